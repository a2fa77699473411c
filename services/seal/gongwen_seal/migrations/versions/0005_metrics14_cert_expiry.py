"""certificate expiry alerts: each certificate's 60/30/7-day alert, raised once

Revision ID: 0005_metrics14_cert_expiry
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

from gongwen_common.tables import UtcDateTime

revision = "0005_metrics14_cert_expiry"
down_revision = "0004"


def upgrade():
    op.create_table(
        "certificate_expiry_alerts",
        sa.Column("certificate_serial", sa.String(48), primary_key=True),
        sa.Column("threshold_days", sa.Integer, primary_key=True),
        sa.Column("not_after", UtcDateTime, nullable=False),
        sa.Column("raised_at", UtcDateTime, nullable=False),
    )


def downgrade():
    op.drop_table("certificate_expiry_alerts")
