"""The Alertmanager receiver: WeCom markdown, a failing sender makes Alertmanager retry, bearer token."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from hub.app.web_alerts import MAX_BYTES, Notification, alerts_router, format_alerts
from hub.core.metrics import HubMetrics

PAYLOAD = {
    "version": "4", "status": "firing", "receiver": "hub-wecom", "groupKey": "{}:{alertname=\"HubSyncStaleHourly\"}",
    "groupLabels": {"alertname": "HubSyncStaleHourly"},
    "commonLabels": {"alertname": "HubSyncStaleHourly", "severity": "warning", "tier": "hourly"},
    "commonAnnotations": {"runbook": "Look at the hub_hourly_sync DAG runs in Airflow."},
    "externalURL": "http://alertmanager:9093",
    "alerts": [
        {"status": "firing", "labels": {"alertname": "HubSyncStaleHourly", "connector": "soap_erp",
                                        "stream": "inventory", "tier": "hourly", "severity": "warning"},
         "annotations": {"summary": "soap_erp/inventory has not synced for 3h 0m 0s"},
         "startsAt": "2026-11-23T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "abc"},
    ],
}


def client(sender, token: str | None = None, metrics: HubMetrics | None = None) -> TestClient:  # type: ignore[no-untyped-def]
    app = FastAPI()
    app.include_router(alerts_router(sender, metrics=metrics, token=SecretStr(token) if token else None))
    return TestClient(app)


def test_markdown_has_title_alert_lines_and_runbook() -> None:
    text = format_alerts(Notification.model_validate(PAYLOAD))
    assert text.startswith('## <font color="warning">[FIRING:1] HubSyncStaleHourly</font>')
    assert "**HubSyncStaleHourly** (connector=soap_erp, stream=inventory, tier=hourly): soap_erp/inventory" in text
    assert "runbook: Look at the hub_hourly_sync DAG runs" in text and "[Alertmanager](http://alertmanager:9093)" in text


def test_many_alerts_fit_one_wecom_message() -> None:
    payload = dict(PAYLOAD, alerts=[dict(PAYLOAD["alerts"][0], annotations={"summary": "x" * 400})] * 50)
    text = format_alerts(Notification.model_validate(payload))
    shown = text.count("**HubSyncStaleHourly**")
    assert len(text.encode()) <= MAX_BYTES and 1 <= shown <= 10 and f"… and {50 - shown} more" in text
    assert text.rstrip().endswith("[Alertmanager](http://alertmanager:9093)")


def test_resolved_notifications_are_green() -> None:
    payload = dict(PAYLOAD, status="resolved", alerts=[dict(PAYLOAD["alerts"][0], status="resolved")])
    assert format_alerts(Notification.model_validate(payload)).startswith('## <font color="info">[RESOLVED]')


def test_the_receiver_hands_markdown_to_the_sender_and_counts() -> None:
    sent: list[str] = []
    metrics = HubMetrics(CollectorRegistry())
    response = client(sent.append, metrics=metrics).post("/alertmanager/webhook", json=PAYLOAD)
    assert response.status_code == 200 and response.json() == {"status": "forwarded", "alerts": 1}
    assert len(sent) == 1 and "HubSyncStaleHourly" in sent[0]
    assert metrics.registry.get_sample_value("hub_alerts_forwarded_total", {"outcome": "sent"}) == 1


def test_a_failing_sender_answers_503_so_alertmanager_retries() -> None:
    def broken(_text: str) -> None:
        raise ConnectionError("WeCom unreachable")

    metrics = HubMetrics(CollectorRegistry())
    assert client(broken, metrics=metrics).post("/alertmanager/webhook", json=PAYLOAD).status_code == 503
    assert metrics.registry.get_sample_value("hub_alerts_forwarded_total", {"outcome": "failed"}) == 1


@pytest.mark.parametrize(("header", "status"), [(None, 401), ("Bearer wrong", 401), ("Bearer s3cret", 200)])
def test_the_bearer_token_is_checked_when_configured(header: str | None, status: int) -> None:
    headers = {"Authorization": header} if header else {}
    response = client(lambda _t: None, token="s3cret").post("/alertmanager/webhook", json=PAYLOAD, headers=headers)
    assert response.status_code == status
