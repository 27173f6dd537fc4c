"""The contract suite's hook: settings overrides that point the dealer files connector at a drop folder."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from connectors.testing.dealer_reports import drop_demo_files, write_contracts


@contextlib.contextmanager
def simulated_settings() -> Iterator[dict[str, Any]]:
    """A temporary drop folder with three good reports and a contracts file; yields the overrides."""
    with tempfile.TemporaryDirectory(prefix="hub-dealer-files-") as temp:
        root = Path(temp)
        folders = {name: root / name for name in ("inbox", "quarantine", "processed")}
        for folder in folders.values():
            folder.mkdir()
        drop_demo_files(folders["inbox"])
        contracts = write_contracts(root / "contracts.csv")
        yield {"dealer_files": {**{k: str(v) for k, v in folders.items()}, "contracts_path": str(contracts),
                                "settle_s": 0}}


def broken_settings(overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The "endpoint" gone wrong: an inbox that does not exist (a file source has no credentials)."""
    section = overrides["dealer_files"]
    missing = str(Path(section["inbox"]).parent / "no-such-inbox")
    return {"endpoint": {**overrides, "dealer_files": {**section, "inbox": missing}}}
