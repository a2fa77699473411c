"""unit read model and infrastructure tables

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
        "unit_views",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )


def downgrade():
    op.drop_table("unit_views")
    drop_infra_tables(op)
