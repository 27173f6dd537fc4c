"""MDM tables: source records (the cross-reference), blocking keys, golden records, codes and their
sequences, candidate pairs for stewards, the audit trail and data-quality findings.

The Alembic migration `hub/core/migrations/versions/0002_mdm.py` creates them; it is written by
hand (the kernel's migration environment never imports this domain package).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Index, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.models import Base, BigIntId


class SourceRecord(Base):
    """One record of one source system, and the golden record it belongs to (the cross-reference)."""

    __tablename__ = "mdm_record"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(32))
    source_system: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(255))
    golden_id: Mapped[str] = mapped_column(String(36), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    features: Mapped[dict[str, str]] = mapped_column(JSON)
    source_version: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (UniqueConstraint("entity", "source_system", "source_id", name="uq_mdm_record_source"),)


class BlockKey(Base):
    """A blocking key of a record: one new record finds its candidates by its keys."""

    __tablename__ = "mdm_block_key"

    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    record_id: Mapped[int] = mapped_column(BigIntId, primary_key=True)


class Golden(Base):
    """A golden record: its stable id and code, survivorship result, status (active or merged)."""

    __tablename__ = "mdm_golden"

    golden_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    entity: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | merged
    merged_into: Mapped[str | None] = mapped_column(String(36), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_mdm_golden_entity_status", "entity", "status"),)


class Code(Base):
    """A code ever given out: the primary code of a golden record or an alias after a merge; never deleted."""

    __tablename__ = "mdm_code"

    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    code: Mapped[str] = mapped_column(String(128), primary_key=True)
    golden_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="primary")  # primary | alias
    assigned_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Sequence(Base):
    """The last number given out in one code scope (机械-华东-#); only ever goes up."""

    __tablename__ = "mdm_sequence"

    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    scope: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class Pair(Base):
    """A scored candidate pair of source records with the explanation a steward reads."""

    __tablename__ = "mdm_pair"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(32))
    left_record_id: Mapped[int] = mapped_column(BigIntId)
    right_record_id: Mapped[int] = mapped_column(BigIntId)
    score: Mapped[float] = mapped_column(Float)
    band: Mapped[str] = mapped_column(String(16))  # auto | review
    status: Mapped[str] = mapped_column(String(16))  # open | merged | rejected | auto
    rule: Mapped[str] = mapped_column(String(128))
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)

    __table_args__ = (
        UniqueConstraint("entity", "left_record_id", "right_record_id", name="uq_mdm_pair_records"),
        Index("ix_mdm_pair_entity_status", "entity", "status"),
    )


class Audit(Base):
    """One MDM operation: who, when, which rule and score, and the state before and after."""

    __tablename__ = "mdm_audit"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(32))
    operation: Mapped[str] = mapped_column(String(32))  # create | auto_match | merge | reject | unmerge | split
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    golden_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    other_golden_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    pair_id: Mapped[int | None] = mapped_column(BigIntId, nullable=True)
    rule: Mapped[str | None] = mapped_column(String(128), nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    undone_by: Mapped[int | None] = mapped_column(BigIntId, nullable=True)


class QualityIssue(Base):
    """A data-quality finding on a source record (completeness, validity, consistency)."""

    __tablename__ = "mdm_quality_issue"

    record_id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    check: Mapped[str] = mapped_column(String(64), primary_key=True)
    entity: Mapped[str] = mapped_column(String(32))
    field: Mapped[str] = mapped_column(String(64))
    golden_id: Mapped[str] = mapped_column(String(36), index=True)

    __table_args__ = (Index("ix_mdm_quality_entity_check", "entity", "check"),)
