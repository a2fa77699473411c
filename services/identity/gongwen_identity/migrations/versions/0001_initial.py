"""unit read model and infrastructure tables

Revision ID: 0001
"""
from alembic import op

from gongwen_common.migrate import create_infra_tables, drop_infra_tables
from gongwen_contracts.registry.replica import create_unit_views

revision = "0001"
down_revision = None


def upgrade():
    create_infra_tables(op)
    create_unit_views(op, without=("version",))  # added by 0002


def downgrade():
    op.drop_table("unit_views")
    drop_infra_tables(op)
