"""archival packages, the jobs that build them, and disposal approvals

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

from gongwen_common.tables import UtcDateTime

revision = "0004"
down_revision = "0003"


def upgrade():
    op.create_table(
        "package_jobs",
        sa.Column("document_id", sa.String(36), primary_key=True),
        sa.Column("due_at", UtcDateTime, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
    )
    op.create_table(
        "archival_packages",
        sa.Column("document_id", sa.String(36), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("units", sa.JSON(), nullable=False),
        sa.Column("issuer_code", sa.String(64), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.Column("check_result", sa.JSON(), nullable=False),
        sa.Column("archived_at", UtcDateTime, nullable=False),
        sa.Column("retention_class", sa.String(16), nullable=False),
        sa.Column("retain_until", UtcDateTime, nullable=True),
        sa.Column("disposed_at", UtcDateTime, nullable=True),
    )
    op.create_table(
        "disposal_approvals",
        sa.Column("document_id", sa.String(36), primary_key=True),
        sa.Column("approver_id", sa.String(80), primary_key=True),
        sa.Column("capacity", sa.String(16), nullable=False),
        sa.Column("proxy_user_id", sa.String(80), nullable=True),
        sa.Column("approved_at", UtcDateTime, nullable=False),
    )


def downgrade():
    op.drop_table("disposal_approvals")
    op.drop_table("archival_packages")
    op.drop_table("package_jobs")
