"""IoT connector: reading marks (dedupe keys and open-window values) and alert episodes.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_iot_reading",
        sa.Column("device_id", sa.String(128), primary_key=True),
        sa.Column("ts_ms", sa.BigInteger(), primary_key=True),
        sa.Column("seq", sa.BigInteger(), primary_key=True),
        sa.Column("values", sa.Text(), nullable=False),
    )
    op.create_table(
        "hub_iot_episode",
        sa.Column("device_id", sa.String(128), primary_key=True),
        sa.Column("rule", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("since_ms", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("last_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hub_iot_episode")
    op.drop_table("hub_iot_reading")
