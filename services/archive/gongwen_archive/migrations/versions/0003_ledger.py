"""the ledger: entries, Merkle nodes, its size, signed tree heads and the signing key

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
        "ledger_entries",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("occurred_at", UtcDateTime, nullable=False),
        sa.Column("document_id", sa.String(36), nullable=True),
        sa.Column("units", sa.JSON(), nullable=False),
        sa.Column("leaf_input", sa.LargeBinary(), nullable=False),
        sa.Column("appended_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_ledger_entries_document_id", "ledger_entries", ["document_id"])
    op.create_table(
        "ledger_nodes",
        sa.Column("level", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("position", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "ledger_state",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("size", sa.Integer(), nullable=False),
    )
    op.create_table(
        "tree_heads",
        sa.Column("tree_size", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
    )
    op.create_table(
        "ledger_keys",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("public_key_pem", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("kek_id", sa.String(16), nullable=True),
        sa.Column("wrapped_data_key", sa.LargeBinary(), nullable=True),
        sa.Column("key_ciphertext", sa.LargeBinary(), nullable=True),
    )


def downgrade():
    for table in ("ledger_keys", "tree_heads", "ledger_state", "ledger_nodes", "ledger_entries"):
        op.drop_table(table)
