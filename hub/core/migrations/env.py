"""Alembic environment: runs on the connection handed over by `hub.core.db.migrate`."""

from __future__ import annotations

from alembic import context

from hub.core.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the hub always passes its connection
    raise RuntimeError("run migrations through hub.core.db.migrate()")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
