"""search: documents by number, title, signer, units and date; pg_trgm on PostgreSQL

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

from gongwen_common.tables import UtcDateTime

revision = "0005"
down_revision = "0004"


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        # pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "search_documents",
        sa.Column("document_id", sa.String(36), primary_key=True),
        sa.Column("issuer_code", sa.String(64), nullable=False),
        sa.Column("doc_number", sa.String(100), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("signer", sa.String(100), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sent_at", UtcDateTime, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )
    op.create_index("ix_search_documents_sent_at", "search_documents", ["sent_at"])
    op.create_index("ix_search_documents_text_trgm", "search_documents", ["text"], postgresql_using="gin",
                    postgresql_ops={"text": "gin_trgm_ops"})
    op.create_table(
        "document_units",
        sa.Column("document_id", sa.String(36), primary_key=True),
        sa.Column("unit_code", sa.String(64), primary_key=True),
    )
    op.create_index("ix_document_units_unit_code", "document_units", ["unit_code"])


def downgrade():
    op.drop_table("document_units")
    op.drop_table("search_documents")
