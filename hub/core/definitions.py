"""RabbitMQ definitions: the topology plus one user per service, each limited to what it needs.

    admin        configures everything (runs `hub topology apply`); tagged administrator
    hub          the hub's processes: publish to the events and dead-letter exchanges, consume the
                 hub's own queues (erp.commands, mdm.intake, hub.dead); declares nothing
    <queue>      one user per subscriber queue (crm.sales, crm.service …): reads that queue only

The file carries password hashes (RabbitMQ's salted SHA-256), never passwords, and is written at
deploy time from secrets (`hub topology definitions --out …`); RabbitMQ loads it at boot
(`load_definitions`) or `rabbitmqctl import_definitions` applies it to a running broker.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from typing import Any

from hub.core.errors import ConfigError
from hub.core.settings import BusSettings
from hub.core.topology import Topology

NOTHING = "^$"


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's `rabbit_password_hashing_sha256`: base64(salt + sha256(salt + password))."""
    salt = salt if salt is not None else os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def _alternatives(names: list[str]) -> str:
    return "^(" + "|".join(re.escape(n) for n in names) + ")$" if names else NOTHING


def user_name(key: str, topology: Topology) -> str:
    """The broker user for a settings key: `crm_sales` names the user of queue `crm.sales`
    (environment variable names cannot hold dots)."""
    for queue in topology.queues:
        if key in (queue.name, queue.name.replace(".", "_")):
            return queue.name
    return key


def permissions_for(user: str, bus: BusSettings, topology: Topology) -> dict[str, str]:
    """configure / write / read regexes of a user, by its role."""
    queues = [q.name for q in topology.queues]
    if user == "admin":
        return {"configure": ".*", "write": ".*", "read": ".*"}
    if user == "hub":
        own = [q for q in queues if q in bus.hub_queues]
        return {"configure": NOTHING, "write": _alternatives([topology.events.name, topology.dead.name]),
                "read": _alternatives([*own, topology.dead_queue.name])}
    if user in queues:
        return {"configure": NOTHING, "write": NOTHING, "read": _alternatives([user])}
    raise ConfigError(f"no role for RabbitMQ user {user!r}: use 'admin', 'hub' or a subscriber queue name "
                      f"({', '.join(queues)})")


def definitions(bus: BusSettings, topology: Topology, vhost: str = "/") -> dict[str, Any]:
    """The whole definitions document for the broker, users and passwords from `bus.users`."""
    passwords = {user_name(key, topology): secret.get_secret_value() for key, secret in bus.users.items()}
    empty = [name for name, secret in passwords.items() if not secret]
    if empty:
        raise ConfigError("RabbitMQ users without a password: " + ", ".join(sorted(empty)))
    users = [{"name": name, "password_hash": password_hash(secret),
              "hashing_algorithm": "rabbit_password_hashing_sha256",
              "tags": ["administrator"] if name == "admin" else []} for name, secret in sorted(passwords.items())]
    permissions = [{"user": name, "vhost": vhost, **permissions_for(name, bus, topology)}
                   for name in sorted(passwords)]
    return {
        "users": users, "vhosts": [{"name": vhost}], "permissions": permissions,
        "exchanges": [{"name": x.name, "vhost": vhost, "type": x.type, "durable": True, "auto_delete": False,
                       "internal": False, "arguments": {}} for x in (topology.events, topology.dead)],
        "queues": [{"name": q.name, "vhost": vhost, "durable": True, "auto_delete": False,
                    "arguments": q.arguments} for q in topology.all_queues()],
        "bindings": [{"source": q.exchange, "vhost": vhost, "destination": q.name, "destination_type": "queue",
                      "routing_key": pattern, "arguments": {}} for q in topology.all_queues() for pattern in q.bindings],
    }
