"""messages: each SMS or voice call, recorded before it is sent

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

from gongwen_common.tables import UtcDateTime

revision = "0003"
down_revision = "0002"


def upgrade():
    op.create_table(
        "messages",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("reference", sa.String(16), nullable=False, unique=True),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("to", sa.String(20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("unit_code", sa.String(64), nullable=False),
        sa.Column("document_id", sa.String(36), nullable=True),
        sa.Column("user_id", sa.String(36), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime, nullable=True),
        sa.Column("provider_sid", sa.String(64), nullable=True, unique=True),
        sa.Column("error_code", sa.String(16), nullable=True),
        sa.Column("segments", sa.Integer(), nullable=True),
        sa.Column("price", sa.String(16), nullable=True),
        sa.Column("price_unit", sa.String(8), nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("sent_at", UtcDateTime, nullable=True),
        sa.Column("delivered_at", UtcDateTime, nullable=True),
        sa.Column("status_at", UtcDateTime, nullable=True),
    )
    op.create_index("ix_messages_due", "messages", ["status", "next_attempt_at"])
    op.create_index("ix_messages_to", "messages", ["to"])
    op.create_index("ix_messages_unit_code", "messages", ["unit_code"])
    op.create_index("ix_messages_document_id", "messages", ["document_id"])


def downgrade():
    op.drop_table("messages")
