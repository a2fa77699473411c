"""certificate alerts: who was told of a certificate's coming expiry, or why not

Revision ID: 0006_metrics14_cert_alerts
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

from gongwen_common.tables import UtcDateTime

revision = "0006_metrics14_cert_alerts"
down_revision = "0005"


def upgrade():
    op.create_table(
        "certificate_alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("certificate_serial", sa.String(48), nullable=False),
        sa.Column("threshold_days", sa.Integer, nullable=False),
        sa.Column("unit_code", sa.String(64)),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64)),
        sa.Column("message_id", sa.String(36)),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_certificate_alerts_certificate_serial", "certificate_alerts", ["certificate_serial"])


def downgrade():
    op.drop_index("ix_certificate_alerts_certificate_serial", "certificate_alerts")
    op.drop_table("certificate_alerts")
