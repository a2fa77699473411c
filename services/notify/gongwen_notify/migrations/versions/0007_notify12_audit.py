"""notify12: the audit trail of policy and template edits

Revision ID: 0006_notify12_audit
Revises: 0006_metrics14_cert_alerts
"""
from alembic import op

from gongwen_common import audit

revision = "0006_notify12_audit"
down_revision = "0006_metrics14_cert_alerts"


def upgrade():
    audit.create_table(op)


def downgrade():
    op.drop_table("audit_records")
