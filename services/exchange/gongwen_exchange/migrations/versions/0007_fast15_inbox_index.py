"""the inbox's index: a unit's receipts by delivery time (newest first) and id, the inbox's order

Revision ID: 0006_fast15_inbox_index
Revises: 0006_health14_canary
"""
import sqlalchemy as sa
from alembic import op

revision = "0006_fast15_inbox_index"
down_revision = "0006_health14_canary"


def upgrade():
    op.create_index("ix_receipts_inbox", "receipts", ["unit_code", sa.text("delivered_at DESC"), "id"])


def downgrade():
    op.drop_index("ix_receipts_inbox", table_name="receipts")
