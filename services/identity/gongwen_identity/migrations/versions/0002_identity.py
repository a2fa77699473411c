"""identity core: users, roles, device keys, challenges, signing keys, tokens, clients, proxies, audit

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

from gongwen_common.tables import UtcDateTime

revision = "0002"
down_revision = "0001"

_ACTIVE = sa.text("status = 'active'")


def upgrade():
    # The registry's version of the unit: a late, older unit event must not overwrite a newer state.
    op.add_column("unit_views", sa.Column("version", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "users",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("unit_code", sa.String(64), nullable=False, index=True),
        sa.Column("mobile", sa.String(20)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("must_change_password", sa.Boolean, nullable=False),
        sa.Column("password_changed_at", UtcDateTime, nullable=False),
        sa.Column("failed_attempts", sa.Integer, nullable=False),
        sa.Column("locked_until", UtcDateTime),
        sa.Column("created_by", sa.String(36)),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("approved_by", sa.String(36)),
        sa.Column("approved_at", UtcDateTime),
        sa.Column("disabled_by", sa.String(80)),
        sa.Column("disabled_at", UtcDateTime),
        sa.Column("disabled_reason", sa.String(500)),
        sa.Column("last_login_at", UtcDateTime),
    )
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("role", sa.String(32), primary_key=True, index=True),
    )
    op.create_table(
        "device_keys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("public_key_pem", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("enrolled_by", sa.String(36)),
        sa.Column("enrolled_at", UtcDateTime, nullable=False),
        sa.Column("replaced_at", UtcDateTime),
    )
    op.create_index("uq_device_keys_active_user", "device_keys", ["user_id"], unique=True,
                    sqlite_where=_ACTIVE, postgresql_where=_ACTIVE)
    op.create_index("uq_device_keys_active_fingerprint", "device_keys", ["fingerprint"], unique=True,
                    sqlite_where=_ACTIVE, postgresql_where=_ACTIVE)
    op.create_table(
        "login_challenges",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("username", sa.String(200), nullable=False),
        sa.Column("nonce", sa.LargeBinary, nullable=False),
        sa.Column("issued_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False, index=True),
        sa.Column("used_at", UtcDateTime),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("public_key_pem", sa.Text, nullable=False),
        sa.Column("private_key_ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("private_key_nonce", sa.LargeBinary, nullable=False),
        sa.Column("kek_id", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "access_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("subject", sa.String(80), nullable=False, index=True),
        sa.Column("issued_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False, index=True),
    )
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("expires_at", UtcDateTime, nullable=False, index=True),
        sa.Column("revoked_at", UtcDateTime, nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
    )
    op.create_table(
        "clients",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("unit_code", sa.String(64), nullable=False, index=True),
        sa.Column("secret_hash", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(36), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("rotated_by", sa.String(36)),
        sa.Column("rotated_at", UtcDateTime),
    )
    op.create_table(
        "proxies",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("principal_user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("proxy_user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("unit_code", sa.String(64), nullable=False),
        sa.Column("starts_at", UtcDateTime, nullable=False),
        sa.Column("ends_at", UtcDateTime, nullable=False),
        sa.Column("created_by", sa.String(36), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "bootstrap_records",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("bootstrapped_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "audit_records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("occurred_at", UtcDateTime, nullable=False, index=True),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject_type", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(80), index=True),
        sa.Column("details", sa.JSON, nullable=False),
    )


def downgrade():
    for table in ("audit_records", "bootstrap_records", "proxies", "clients", "revoked_tokens", "access_tokens",
                  "signing_keys", "login_challenges"):
        op.drop_table(table)
    op.drop_index("uq_device_keys_active_fingerprint", table_name="device_keys")
    op.drop_index("uq_device_keys_active_user", table_name="device_keys")
    for table in ("device_keys", "user_roles", "users"):
        op.drop_table(table)
    with op.batch_alter_table("unit_views") as batch:
        batch.drop_column("version")
