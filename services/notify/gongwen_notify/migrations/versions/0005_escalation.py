"""escalation: people, unit contacts, policies, templates, tracked documents, steps, notifications

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

from gongwen_common.tables import UtcDateTime

revision = "0005"
down_revision = "0004"

ACTOR_ID = sa.String(64)


def upgrade():
    op.create_table(
        "people",
        sa.Column("user_id", ACTOR_ID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("unit_code", sa.String(64), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("mobile", sa.String(20), nullable=True),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_people_unit_code", "people", ["unit_code"])
    op.create_table(
        "unit_contacts",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("admin_user_id", ACTOR_ID, nullable=True),
        sa.Column("clerk_user_ids", sa.JSON(), nullable=False),
        sa.Column("leader_user_id", ACTOR_ID, nullable=True),
        sa.Column("deputy_leader_user_id", ACTOR_ID, nullable=True),
        sa.Column("sms_enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "notify_policies",
        sa.Column("unit_code", sa.String(64), primary_key=True),
        sa.Column("urgency", sa.String(16), primary_key=True),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("updated_by", ACTOR_ID, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "notify_templates",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("updated_by", ACTOR_ID, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "tracked_documents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("issuer_code", sa.String(64), nullable=False),
        sa.Column("doc_number", sa.String(200), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("sent_at", UtcDateTime, nullable=False),
        sa.Column("closed_at", UtcDateTime, nullable=True),
        sa.Column("closed_reason", sa.String(32), nullable=True),
        sa.Column("link_code", sa.String(12), nullable=True, unique=True),
    )
    op.create_index("ix_tracked_documents_issuer_code", "tracked_documents", ["issuer_code"])
    op.create_table(
        "tracked_receipts",
        sa.Column("receipt_id", sa.String(36), primary_key=True),
        sa.Column("document_id", sa.String(36), nullable=False),
        sa.Column("unit_code", sa.String(64), nullable=False),
        sa.Column("due_at", UtcDateTime, nullable=False),
        sa.Column("closed_at", UtcDateTime, nullable=True),
        sa.Column("closed_reason", sa.String(32), nullable=True),
    )
    op.create_index("ix_tracked_receipts_document_id", "tracked_receipts", ["document_id"])
    op.create_index("ix_tracked_receipts_unit_code", "tracked_receipts", ["unit_code"])
    op.create_table(
        "escalation_steps",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("document_id", sa.String(36), nullable=False),
        sa.Column("receipt_id", sa.String(36), nullable=False),
        sa.Column("unit_code", sa.String(64), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("occurrence", sa.Integer(), nullable=False),
        sa.Column("audience", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("fire_at", UtcDateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("claimed_by", sa.String(100), nullable=True),
        sa.Column("claimed_until", UtcDateTime, nullable=True),
        sa.Column("fired_at", UtcDateTime, nullable=True),
        sa.Column("cancelled_at", UtcDateTime, nullable=True),
        sa.UniqueConstraint("receipt_id", "step", "occurrence", name="uq_escalation_steps_occurrence"),
    )
    op.create_index("ix_escalation_steps_due", "escalation_steps", ["status", "fire_at"])
    op.create_index("ix_escalation_steps_document_id", "escalation_steps", ["document_id"])
    op.create_index("ix_escalation_steps_receipt_id", "escalation_steps", ["receipt_id"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("document_id", sa.String(36), nullable=False),
        sa.Column("unit_code", sa.String(64), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("user_id", ACTOR_ID, nullable=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("to", sa.String(20), nullable=True),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("message_id", sa.String(36), nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("send_after", UtcDateTime, nullable=False),
    )
    op.create_index("ix_notifications_pending", "notifications", ["status", "user_id"])
    op.create_index("ix_notifications_document_id", "notifications", ["document_id"])
    op.create_index("ix_notifications_step_id", "notifications", ["step_id"])
    op.create_index("ix_notifications_message_id", "notifications", ["message_id"])


def downgrade():
    for table in ("notifications", "escalation_steps", "tracked_receipts", "tracked_documents",
                  "notify_templates", "notify_policies", "unit_contacts", "people"):
        op.drop_table(table)
