"""units and infrastructure tables

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op

from gongwen_common.migrate import create_infra_tables, drop_infra_tables
from gongwen_common.tables import UtcDateTime

revision = "0001"
down_revision = None


def upgrade():
    create_infra_tables(op)
    op.create_table(
        "units",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("parent_code", sa.String(64), index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )


def downgrade():
    op.drop_table("units")
    drop_infra_tables(op)
