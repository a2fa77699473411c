"""retry keys: a seal use and a print stamp are made once per request; one person, one destruction party

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade():
    op.add_column("seal_uses", sa.Column("request_key", sa.String(64)))
    op.add_column("seal_uses", sa.Column("signature", sa.LargeBinary))
    op.create_index("ix_seal_uses_request_key", "seal_uses", ["request_key"], unique=True)
    op.add_column("print_stamps", sa.Column("stamp_key", sa.String(80)))
    op.create_index("ix_print_stamps_stamp_key", "print_stamps", ["stamp_key"], unique=True)
    op.create_index("ix_seal_destruction_approvals_person", "seal_destruction_approvals", ["seal_serial", "user_id"],
                    unique=True)


def downgrade():
    op.drop_index("ix_seal_destruction_approvals_person", "seal_destruction_approvals")
    op.drop_index("ix_print_stamps_stamp_key", "print_stamps")
    with op.batch_alter_table("print_stamps") as batch:
        batch.drop_column("stamp_key")
    op.drop_index("ix_seal_uses_request_key", "seal_uses")
    with op.batch_alter_table("seal_uses") as batch:
        batch.drop_column("signature")
        batch.drop_column("request_key")
