"""Per-service RabbitMQ users from a definitions file: each can do its job and nothing more."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator

import pika
import pika.exceptions
import pytest
from click.testing import CliRunner

from hub.app.cli import main
from hub.core.definitions import password_hash
from hub.core.settings import HubSettings, get_settings
from tests.integration.test_kill_recovery import hub_env

pytestmark = [pytest.mark.integration]


def test_password_hash_is_salted_sha256() -> None:
    # base64(salt + sha256(salt + password)); the broker accepting it is proven by the log-ins below.
    raw = base64.b64decode(password_hash("guest", b"\x90\x8d\xc6\x0a"))
    assert raw[:4] == b"\x90\x8d\xc6\x0a" and raw[4:] == hashlib.sha256(b"\x90\x8d\xc6\x0aguest").digest()
    assert password_hash("guest") != password_hash("guest")  # a new salt each time


@pytest.fixture
def users(hub_settings: HubSettings, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed")
    crm_queue = next(name for name in hub_settings.bus.subscribers if name.endswith(".crm"))
    erp_queue = next(name for name in hub_settings.bus.subscribers if name.endswith(".erp"))
    suffix = secrets.token_hex(3)
    passwords = {"hub": secrets.token_urlsafe(12), crm_queue: secrets.token_urlsafe(12)}
    for name, value in hub_env(hub_settings).items():
        if name.startswith("HUB_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("HUB_BUS__HUB_QUEUES", json.dumps([erp_queue]))
    for user, password in passwords.items():
        secret = tmp_path / f"rabbit_{user}"
        secret.write_text(password, encoding="utf-8")
        monkeypatch.setenv(f"HUB_BUS__USERS__{user.replace('.', '_').upper()}_FILE", str(secret))
    get_settings.cache_clear()
    yield {"suffix": suffix, "crm_queue": crm_queue, "erp_queue": erp_queue, **passwords}
    get_settings.cache_clear()
    for user in passwords:
        subprocess.run(["rabbitmqctl", "delete_user", user], capture_output=True, timeout=60)


def connect(user: str, password: str) -> pika.BlockingConnection:
    """Log in as a user; the broker applies imported definitions asynchronously, so wait a little."""
    deadline = time.monotonic() + 20
    while True:
        try:
            return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", 5672, "/",
                                                                     pika.PlainCredentials(user, password)))
        except pika.exceptions.ProbableAuthenticationError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_definitions_file_gives_each_service_only_its_permissions(users: dict[str, str],
                                                                   hub_settings: HubSettings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "definitions.json"
    written = CliRunner().invoke(main, ["topology", "definitions", "--out", str(out)], catch_exceptions=False)
    assert written.exit_code == 0, written.output
    text = out.read_text(encoding="utf-8")
    assert users["hub"] not in text and users[users["crm_queue"]] not in text  # hashes only
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    applied = CliRunner().invoke(main, ["topology", "apply", "--definitions", str(out)], catch_exceptions=False)
    assert applied.exit_code == 0, applied.output

    bus = hub_settings.bus
    hub = connect("hub", users["hub"]).channel()
    hub.confirm_delivery()
    hub.basic_publish(bus.events_exchange, "src.erp.customer.changed.v1", b"{}", mandatory=True)
    hub.basic_get(users["erp_queue"], auto_ack=True)  # its own queue: allowed
    hub.queue_declare(bus.dead_queue, passive=True)  # `hub dlq list` counts the dead letters
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        hub.queue_declare("anything.new", durable=True)
    assert refused.value.reply_code == 403

    crm = connect(users["crm_queue"], users[users["crm_queue"]]).channel()
    method, _props, body = crm.basic_get(users["crm_queue"], auto_ack=True)
    assert method is not None and body == b"{}"
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        crm.basic_publish(bus.events_exchange, "src.erp.customer.changed.v1", b"forged")
        crm.basic_get(users["crm_queue"])  # the refusal arrives asynchronously: force a round trip
    assert refused.value.reply_code == 403
    other = connect(users["crm_queue"], users[users["crm_queue"]]).channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker):
        other.basic_get(users["erp_queue"])  # another subscriber's queue
