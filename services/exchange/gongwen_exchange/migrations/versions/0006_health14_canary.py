"""the canary's schedule and last round trip

Revision ID: 0006_health14_canary
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

from gongwen_common.tables import UtcDateTime

revision = "0006_health14_canary"
down_revision = "0005"


def upgrade():
    op.create_table(
        "canary_state",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("since", UtcDateTime, nullable=False),
        sa.Column("due_at", UtcDateTime, nullable=False),
        sa.Column("claimed_by", sa.String(100)),
        sa.Column("claimed_until", UtcDateTime),
        sa.Column("started_at", UtcDateTime),
        sa.Column("completed_at", UtcDateTime),
        sa.Column("round_trip_seconds", sa.Float),
        sa.Column("document_id", sa.String(36)),
        sa.Column("outcome", sa.String(16)),
        sa.Column("error", sa.Text),
        sa.Column("failed_at", UtcDateTime),
    )


def downgrade():
    op.drop_table("canary_state")
