"""documents archived by the archive, and content purged after the exchange's retention

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

from gongwen_common.tables import UtcDateTime

revision = "0005"
down_revision = "0004"


def upgrade():
    with op.batch_alter_table("documents") as table:
        table.add_column(sa.Column("archived_at", UtcDateTime, nullable=True))
    with op.batch_alter_table("blobs") as table:
        table.add_column(sa.Column("purged_at", UtcDateTime, nullable=True))


def downgrade():
    with op.batch_alter_table("blobs") as table:
        table.drop_column("purged_at")
    with op.batch_alter_table("documents") as table:
        table.drop_column("archived_at")
