"""unit lifecycle: approval, contacts, revocation; name history, contact filings, merges

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

from gongwen_common.tables import UtcDateTime

revision = "0002"
down_revision = "0001"

ACTOR_ID = sa.String(64)


def unit_columns():
    """Fresh Column objects each time: a Column belongs to the one table it is added to."""
    return (
        # Units registered before this revision were registered by nobody we know of.
        sa.Column("registered_by", ACTOR_ID, nullable=False, server_default="system"),
        sa.Column("approved_at", UtcDateTime, nullable=True),
        sa.Column("approved_by", ACTOR_ID, nullable=True),
        sa.Column("sms_enabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("admin_user_id", ACTOR_ID, nullable=True),
        sa.Column("clerk_user_ids", sa.JSON, nullable=True),
        sa.Column("leader_user_id", ACTOR_ID, nullable=True),
        sa.Column("mobiles", sa.JSON, nullable=True),
        sa.Column("revoked_at", UtcDateTime, nullable=True),
        sa.Column("revoked_by", ACTOR_ID, nullable=True),
        sa.Column("revocation_reason", sa.String(500), nullable=True),
        sa.Column("documents_policy", sa.String(16), nullable=True),
        sa.Column("successor_code", sa.String(64), nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    )


def upgrade():
    with op.batch_alter_table("units") as batch:
        for column in unit_columns():
            batch.add_column(column)
    op.create_table(
        "unit_names",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(64), sa.ForeignKey("units.code"), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False, index=True),
        sa.Column("valid_from", UtcDateTime, nullable=False),
        sa.Column("valid_to", UtcDateTime, nullable=False),
        sa.Column("changed_by", ACTOR_ID, nullable=False),
    )
    op.create_table(
        "contact_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(64), sa.ForeignKey("units.code"), nullable=False, index=True),
        sa.Column("before", sa.JSON, nullable=True),
        sa.Column("after", sa.JSON, nullable=False),
        sa.Column("filed_by", ACTOR_ID, nullable=False),
        sa.Column("filed_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "unit_merges",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("into_code", sa.String(64), sa.ForeignKey("units.code"), nullable=False, index=True),
        sa.Column("from_codes", sa.JSON, nullable=False),
        sa.Column("new_unit_created", sa.Boolean, nullable=False),
        sa.Column("merged_at", UtcDateTime, nullable=False),
        sa.Column("merged_by", ACTOR_ID, nullable=False),
    )


def downgrade():
    op.drop_table("unit_merges")
    op.drop_table("contact_changes")
    op.drop_table("unit_names")
    with op.batch_alter_table("units") as batch:
        for column in reversed(unit_columns()):
            batch.drop_column(column.name)
