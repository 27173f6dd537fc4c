"""Secrets: refused in configuration files, read from mounted files, never printed."""

from __future__ import annotations

import pytest

from hub.core.errors import ConfigError
from hub.core.secrets import literal_secrets, refuse_literal_secrets
from hub.core.settings import load_settings


@pytest.mark.parametrize(("document", "found"), [
    ({"robot": {"webhook_key": "abc"}}, []),  # not a secret-looking name
    ({"robot": {"api_key": "3f2a-SECRET"}}, ["robot.api_key"]),
    ({"wecom": {"corp_secret": "xyz"}}, ["wecom.corp_secret"]),
    ({"apps": [{"name": "checkin", "secret": "xyz"}]}, ["apps[0].secret"]),
    ({"password": "${HUB_SOAP_ERP__PASSWORD}"}, []),
    ({"token": "env:HUB_WECOM__TOKEN", "encoding_aes_key": "file:/run/secrets/aes"}, []),
    ({"password": ""}, []),
    ({"Password": 123456}, ["Password"]),
    ({"tokens_per_minute": 20}, []),
])
def test_literal_secrets_are_found_by_key(document: dict, found: list[str]) -> None:  # type: ignore[type-arg]
    assert literal_secrets(document) == found


def test_refusal_names_file_and_key_but_not_the_value() -> None:
    with pytest.raises(ConfigError) as info:
        refuse_literal_secrets({"erp": {"password": "SECRET-CANARY"}}, "config/erp.yaml")
    text = str(info.value)
    assert "config/erp.yaml" in text and "erp.password" in text and "SECRET-CANARY" not in text


def test_settings_read_secret_files(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "erp_password"
    secret.write_text("SECRET-CANARY\n", encoding="utf-8")
    monkeypatch.setenv("HUB_SOAP_ERP__PASSWORD_FILE", str(secret))
    monkeypatch.setenv("HUB_SOAP_ERP__USERNAME", "hub-sync")
    settings = load_settings()
    assert settings.soap_erp.password.get_secret_value() == "SECRET-CANARY"
    assert settings.soap_erp.username == "hub-sync"
    assert "SECRET-CANARY" not in repr(settings)


def test_unreadable_secret_file_is_a_clear_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_SOAP_ERP__PASSWORD_FILE", "/nonexistent/secret")
    with pytest.raises(ConfigError, match="HUB_SOAP_ERP__PASSWORD_FILE"):
        load_settings()


def test_a_mapping_file_with_a_literal_secret_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from mappings import check_all

    folder = tmp_path / "erp"
    folder.mkdir()
    (folder / "customer.yaml").write_text(
        "mapping: erp/customer\nversion: '1'\ntarget: customer/customer.v1\n"
        "source: {password: SECRET-CANARY}\nfields: {}\n", encoding="utf-8")
    problems = check_all(tmp_path)
    assert any("source.password" in p and "literal secret" in p for p in problems)
    assert not any("SECRET-CANARY" in p for p in problems)


def _field_names(model: type, prefix: str = "HUB_") -> list[str]:
    from pydantic import BaseModel

    names = []
    for name, info in model.model_fields.items():  # type: ignore[attr-defined]
        names.append(prefix + name.upper())
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += _field_names(annotation, f"{prefix}{name.upper()}__")
    return names


def test_no_setting_ends_in_file_because_that_suffix_names_a_secret_file() -> None:
    from hub.core.settings import HubSettings

    names = _field_names(HubSettings)
    assert "HUB_BUS__URL" in names and "HUB_DEALER_FILES__CONTRACTS_PATH" in names
    assert [n for n in names if n.endswith("_FILE")] == []


def test_a_path_setting_is_read_from_its_variable(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    contracts = tmp_path / "contracts.csv"
    contracts.write_text("dealer_code,annual_volume\n", encoding="utf-8")
    monkeypatch.setenv("HUB_DEALER_FILES__CONTRACTS_PATH", str(contracts))
    assert load_settings().dealer_files.contracts_path == contracts


def test_worker_and_web_secrets_come_from_files_too(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "token").write_text("alert-token-canary\n", encoding="utf-8")
    (tmp_path / "key").write_text("web-key-canary\n", encoding="utf-8")
    monkeypatch.setenv("HUB_WORKER__ALERT_WEBHOOK_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("HUB_WEB__SECRET_KEY_FILE", str(tmp_path / "key"))
    settings = load_settings()
    assert settings.worker.alert_webhook_token.get_secret_value() == "alert-token-canary"
    assert settings.web.signing_key() == "web-key-canary"
    assert "canary" not in repr(settings)
