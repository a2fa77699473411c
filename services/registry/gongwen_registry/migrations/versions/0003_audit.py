"""the audit trail: every change with the acting user and proxy

Revision ID: 0003
Revises: 0002
"""
from alembic import op

from gongwen_common import audit

revision = "0003"
down_revision = "0002"


def upgrade():
    audit.create_table(op)


def downgrade():
    op.drop_table("audit_records")
