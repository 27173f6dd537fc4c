"""MDM: source records (cross-reference), blocking keys, golden records, codes, sequences, pairs,
audit trail and data-quality findings. Mirrors mdm/models.py (written by hand: the kernel's
migration environment does not import the domain package).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _now() -> sa.Column:
    return sa.func.now()


def upgrade() -> None:
    op.create_table(
        "mdm_record",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("source_system", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("golden_id", sa.String(36), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("source_version", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.UniqueConstraint("entity", "source_system", "source_id", name="uq_mdm_record_source"),
    )
    op.create_index("ix_mdm_record_golden_id", "mdm_record", ["golden_id"])
    op.create_table(
        "mdm_block_key",
        sa.Column("entity", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("record_id", BigIntId, primary_key=True),
    )
    op.create_table(
        "mdm_golden",
        sa.Column("golden_id", sa.String(36), primary_key=True),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("code", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("merged_into", sa.String(36), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
    )
    op.create_index("ix_mdm_golden_entity_status", "mdm_golden", ["entity", "status"])
    op.create_table(
        "mdm_code",
        sa.Column("entity", sa.String(32), primary_key=True),
        sa.Column("code", sa.String(128), primary_key=True),
        sa.Column("golden_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
    )
    op.create_index("ix_mdm_code_golden_id", "mdm_code", ["golden_id"])
    op.create_table(
        "mdm_sequence",
        sa.Column("entity", sa.String(32), primary_key=True),
        sa.Column("scope", sa.String(128), primary_key=True),
        sa.Column("last_value", sa.Integer(), nullable=False),
    )
    op.create_table(
        "mdm_pair",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("left_record_id", BigIntId, nullable=False),
        sa.Column("right_record_id", BigIntId, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("band", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.UniqueConstraint("entity", "left_record_id", "right_record_id", name="uq_mdm_pair_records"),
    )
    op.create_index("ix_mdm_pair_entity_status", "mdm_pair", ["entity", "status"])
    op.create_table(
        "mdm_audit",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("golden_id", sa.String(36), nullable=True),
        sa.Column("other_golden_id", sa.String(36), nullable=True),
        sa.Column("pair_id", BigIntId, nullable=True),
        sa.Column("rule", sa.String(128), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("undone_by", BigIntId, nullable=True),
    )
    op.create_index("ix_mdm_audit_golden_id", "mdm_audit", ["golden_id"])
    op.create_table(
        "mdm_quality_issue",
        sa.Column("record_id", BigIntId, primary_key=True),
        sa.Column("check", sa.String(64), primary_key=True),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("golden_id", sa.String(36), nullable=False),
    )
    op.create_index("ix_mdm_quality_issue_golden_id", "mdm_quality_issue", ["golden_id"])
    op.create_index("ix_mdm_quality_entity_check", "mdm_quality_issue", ["entity", "check"])


def downgrade() -> None:
    for table in ("mdm_quality_issue", "mdm_audit", "mdm_pair", "mdm_sequence", "mdm_code", "mdm_golden",
                  "mdm_block_key", "mdm_record"):
        op.drop_table(table)
