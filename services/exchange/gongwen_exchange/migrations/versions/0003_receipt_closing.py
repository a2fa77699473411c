"""receipts closed when their unit is revoked (kept, archived, transferred)

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

from gongwen_common.tables import UtcDateTime

revision = "0003"
down_revision = "0002"


def upgrade():
    with op.batch_alter_table("receipts") as table:
        table.add_column(sa.Column("closed_at", UtcDateTime, nullable=True))
        table.add_column(sa.Column("closed_reason", sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table("receipts") as table:
        table.drop_column("closed_reason")
        table.drop_column("closed_at")
