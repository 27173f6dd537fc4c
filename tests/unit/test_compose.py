"""docker-compose.yml cannot run here: it is validated against the Compose Specification instead."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from hub.core.secrets import literal_secrets

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
ONE_SHOT = {"rabbitmq-definitions", "airflow-init"}


def test_compose_file_follows_the_compose_specification() -> None:
    schema = json.loads((ROOT / "deploy/schema/compose-spec.json").read_text(encoding="utf-8"))
    jsonschema.Draft201909Validator(schema).validate(COMPOSE)


@pytest.mark.parametrize("name", sorted(set(SERVICES) - ONE_SHOT))
def test_long_running_services_have_health_checks_and_restart_policies(name: str) -> None:
    service = SERVICES[name]
    assert service.get("restart") in ("unless-stopped", "always", "on-failure"), name
    assert "healthcheck" in service, name


def test_the_stack_has_every_part_of_the_product() -> None:
    expected = {"rabbitmq", "postgres", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
                "hub-web", "hub-worker", "mosquitto", "prometheus", "alertmanager", "grafana"}
    assert expected <= set(SERVICES)


def test_no_guest_user_and_no_literal_secrets() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert not re.search(r"\bguest\b", text)
    for name, service in SERVICES.items():
        assert literal_secrets(service.get("environment", {})) == [], name
        for key, value in (service.get("environment") or {}).items():
            if key.endswith("_FILE"):
                secret = value.rsplit("/", 1)[-1]
                assert secret in (service.get("secrets") or []), f"{name}: {key} names an unmounted secret"


def test_mounted_repository_files_exist() -> None:
    missing = []
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./") and not source.startswith("./secrets/") and not (ROOT / source).exists():
                missing.append(f"{name}: {source}")
    assert missing == []
    for dockerfile in {s["build"]["dockerfile"] for s in SERVICES.values() if "build" in s}:
        assert (ROOT / dockerfile).is_file()


def test_alertmanager_and_the_hub_receiver_share_the_webhook_token_secret() -> None:
    alertmanager = yaml.safe_load((ROOT / "monitoring/alertmanager.yml").read_text(encoding="utf-8"))
    files = [c["http_config"]["authorization"]["credentials_file"] for r in alertmanager["receivers"]
             for c in r.get("webhook_configs", [])]
    assert files and all(f.startswith("/run/secrets/") for f in files)
    secret = files[0].rsplit("/", 1)[-1]
    assert secret in SERVICES["alertmanager"]["secrets"] and secret in COMPOSE["secrets"]
    web = SERVICES["hub-web"]
    assert web["environment"]["HUB_WORKER__ALERT_WEBHOOK_TOKEN_FILE"] == f"/run/secrets/{secret}"
    assert "HUB_WEB__SECRET_KEY_FILE" in web["environment"]  # sessions survive restarts and replicas
