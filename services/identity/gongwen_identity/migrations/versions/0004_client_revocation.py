"""client revocation: who revoked a unit's department-system client, and when

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

from gongwen_common.tables import UtcDateTime

revision = "0004"
down_revision = "0003"


def upgrade():
    with op.batch_alter_table("clients") as table:
        table.add_column(sa.Column("revoked_by", sa.String(36)))
        table.add_column(sa.Column("revoked_at", UtcDateTime))


def downgrade():
    with op.batch_alter_table("clients") as table:
        table.drop_column("revoked_at")
        table.drop_column("revoked_by")
