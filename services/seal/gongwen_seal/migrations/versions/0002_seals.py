"""seals: the CA, unit seals with wrapped keys, custody and destruction approvals, uses, print stamps, audit

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

from gongwen_common import audit
from gongwen_common.tables import UtcDateTime

revision = "0002"
down_revision = "0001"


def _wrapped_key():
    return [sa.Column("kek_id", sa.String(16)), sa.Column("wrapped_data_key", sa.LargeBinary),
            sa.Column("key_ciphertext", sa.LargeBinary)]


def upgrade():
    op.create_table(
        "authorities",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("certificate_pem", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        *_wrapped_key(),
    )
    op.create_table(
        "seals",
        sa.Column("serial", sa.String(32), primary_key=True),
        sa.Column("unit_code", sa.String(64), nullable=False, index=True),
        sa.Column("unit_name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("required_approvals", sa.Integer, nullable=False),
        sa.Column("custodian_user_ids", sa.JSON, nullable=False),
        sa.Column("image_png", sa.LargeBinary, nullable=False),
        sa.Column("image_source", sa.String(16), nullable=False),
        sa.Column("replaces_serial", sa.String(32)),
        sa.Column("applied_by", sa.String(80), nullable=False),
        sa.Column("applied_at", UtcDateTime, nullable=False),
        sa.Column("approved_by", sa.String(80)),
        sa.Column("approved_at", UtcDateTime),
        sa.Column("certificate_pem", sa.Text),
        sa.Column("certificate_serial", sa.String(48)),
        sa.Column("not_before", UtcDateTime),
        sa.Column("not_after", UtcDateTime),
        sa.Column("revoked_by", sa.String(80)),
        sa.Column("revoked_at", UtcDateTime),
        sa.Column("revocation_reason", sa.String(500)),
        sa.Column("destroyed_at", UtcDateTime),
        sa.Column("version", sa.Integer, nullable=False),
        *_wrapped_key(),
    )
    op.create_table(
        "seal_use_approvals",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("seal_serial", sa.String(32), sa.ForeignKey("seals.serial"), nullable=False, index=True),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("custodian_user_id", sa.String(80), nullable=False),
        sa.Column("approved_at", UtcDateTime, nullable=False),
        sa.Column("used_at", UtcDateTime),
    )
    op.create_table(
        "seal_destruction_approvals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("seal_serial", sa.String(32), sa.ForeignKey("seals.serial"), nullable=False, index=True),
        sa.Column("party", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(80), nullable=False),
        sa.Column("approved_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("seal_serial", "party"),
    )
    op.create_table(
        "seal_uses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("seal_serial", sa.String(32), sa.ForeignKey("seals.serial"), nullable=False, index=True),
        sa.Column("manifest_sha256", sa.String(64), nullable=False, index=True),
        sa.Column("signed_at", UtcDateTime, nullable=False),
        sa.Column("signed_by", sa.String(80), nullable=False),
        sa.Column("proxy_user_id", sa.String(80)),
        sa.Column("approval_ids", sa.JSON, nullable=False),
    )
    op.create_table(
        "print_stamps",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("print_serial", sa.String(40), nullable=False, unique=True),
        sa.Column("seal_serial", sa.String(32), sa.ForeignKey("seals.serial"), nullable=False, index=True),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("issued_at", UtcDateTime, nullable=False),
        sa.Column("issued_to", sa.String(80), nullable=False),
    )
    audit.create_table(op)


def downgrade():
    for table in ("audit_records", "print_stamps", "seal_uses", "seal_destruction_approvals", "seal_use_approvals",
                  "seals", "authorities"):
        op.drop_table(table)
