"""proxies acting: audit records and access tokens name the proxy beside the principal

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade():
    with op.batch_alter_table("audit_records") as table:
        table.add_column(sa.Column("proxy_user_id", sa.String(80)))
    with op.batch_alter_table("access_tokens") as table:
        table.add_column(sa.Column("proxy_user_id", sa.String(36)))
        table.create_index("ix_access_tokens_proxy_user_id", ["proxy_user_id"])


def downgrade():
    with op.batch_alter_table("access_tokens") as table:
        table.drop_index("ix_access_tokens_proxy_user_id")
        table.drop_column("proxy_user_id")
    with op.batch_alter_table("audit_records") as table:
        table.drop_column("proxy_user_id")
