"""WeCom callbacks: the durable inbox of received messages and the nonces seen (replay protection).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "hub_wecom_callback",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("dedupe_key", sa.String(128), nullable=False, unique=True),
        sa.Column("msg_type", sa.String(32), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_hub_wecom_callback_status_id", "hub_wecom_callback", ["status", "id"])
    op.create_table(
        "hub_wecom_nonce",
        sa.Column("nonce", sa.String(128), primary_key=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_hub_wecom_nonce_seen_at", "hub_wecom_nonce", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_hub_wecom_nonce_seen_at", table_name="hub_wecom_nonce")
    op.drop_table("hub_wecom_nonce")
    op.drop_index("ix_hub_wecom_callback_status_id", table_name="hub_wecom_callback")
    op.drop_table("hub_wecom_callback")
