"""messages: delivery's claim, the ambiguous-attempt flag, Twilio's error text; per-unit month index

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

from gongwen_common.tables import UtcDateTime

revision = "0004"
down_revision = "0003"


def upgrade():
    op.add_column("messages", sa.Column("claimed_by", sa.String(64), nullable=True))
    op.add_column("messages", sa.Column("claimed_until", UtcDateTime, nullable=True))
    op.add_column("messages", sa.Column("ambiguous", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("messages", sa.Column("error_message", sa.Text(), nullable=True))
    op.create_index("ix_messages_unit_created", "messages", ["unit_code", "created_at"])


def downgrade():
    op.drop_index("ix_messages_unit_created", "messages")
    for column in ("error_message", "ambiguous", "claimed_until", "claimed_by"):
        op.drop_column("messages", column)
