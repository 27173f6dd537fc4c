"""Secrets come from the environment or mounted files, never from configuration files in the repo.

Every loader of a YAML configuration (mappings, match rules, tiers, device rules) passes the
parsed document through `refuse_literal_secrets`: a key that names a secret (password, secret,
token, api key, AES key…) with a literal value is refused at load, naming the file and the key.
A reference such as `${HUB_WECOM__CORP_SECRET}` or `env:NAME` / `file:/run/secrets/x` is allowed.
"""

from __future__ import annotations

import re
from typing import Any

from hub.core.errors import ConfigError

_SECRET_KEY = re.compile(r"(pass(word|wd)?|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|"
                         r"aes[_-]?key|encoding[_-]?aes[_-]?key|credential)s?$", re.IGNORECASE)
_REFERENCE = re.compile(r"^(\$\{[A-Z0-9_]+\}|env:[A-Z0-9_]+|file:/\S+)$")


def literal_secrets(document: Any, path: str = "") -> list[str]:
    """Paths (a.b[2].c) of keys that name a secret and hold a literal value."""
    found: list[str] = []
    if isinstance(document, dict):
        for key, value in document.items():
            where = f"{path}.{key}" if path else str(key)
            if _names_secret(key) and _is_literal(value):
                found.append(where)
            else:
                found += literal_secrets(value, where)
    elif isinstance(document, list):
        for index, item in enumerate(document):
            found += literal_secrets(item, f"{path}[{index}]")
    return found


def refuse_literal_secrets(document: Any, source: str) -> None:
    """Raise ConfigError naming every literal secret in a parsed configuration file."""
    found = literal_secrets(document)
    if found:
        problems = [f"{source}: '{where}' holds a literal secret; set it through the environment "
                    "(HUB_…) or a mounted file (HUB_…_FILE) instead" for where in found]
        raise ConfigError("secrets in configuration files are refused", problems)


def _names_secret(key: Any) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEY.search(key))


def _is_literal(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip()) and not _REFERENCE.match(value.strip())
    return isinstance(value, int | float) and not isinstance(value, bool)
