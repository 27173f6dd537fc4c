"""Tables of the hub's own state: outbox, checkpoints, processed event ids.

Alembic migrations under `hub/core/migrations` create them; these models are the single
description both the code and the migrations follow.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, LargeBinary, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments INTEGER PRIMARY KEY, PostgreSQL wants BIGINT for a busy outbox.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base of every hub table."""


class OutboxRow(Base):
    """An event (or dead letter) waiting for the relay to publish it with confirms."""

    __tablename__ = "hub_outbox"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64))
    exchange: Mapped[str] = mapped_column(String(255))
    routing_key: Mapped[str] = mapped_column(String(255))
    # AMQP properties as columns, not JSON: the relay reads thousands of rows a second.
    message_type: Mapped[str | None] = mapped_column(String(255), nullable=True)
    timestamp: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    content_type: Mapped[str] = mapped_column(String(64))
    headers: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)  # dead letters only
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_hub_outbox_status_id", "status", "id"),)


class Checkpoint(Base):
    """The cursor of one connector stream; moves only with the outbox rows of its batch."""

    __tablename__ = "hub_checkpoint"

    connector: Mapped[str] = mapped_column(String(64), primary_key=True)
    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    records_total: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_success_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ProcessedEvent(Base):
    """An event id a consumer has applied, stored in the same transaction as its effect."""

    __tablename__ = "hub_processed_event"

    consumer: Mapped[str] = mapped_column(String(128), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class InboxMessage(Base):
    """What a subscriber received (the demo CRM and tests keep it to show and compare)."""

    __tablename__ = "hub_inbox"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    consumer: Mapped[str] = mapped_column(String(128))
    event_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_hub_inbox_consumer_type", "consumer", "type"),)
