"""contacts name users only: no mobiles map (a person's mobile is their account's, in identity);
a deputy leader

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade():
    with op.batch_alter_table("units") as batch:
        batch.drop_column("mobiles")
        batch.add_column(sa.Column("deputy_leader_user_id", sa.String(64), nullable=True))


def downgrade():
    with op.batch_alter_table("units") as batch:
        batch.drop_column("deputy_leader_user_id")
        batch.add_column(sa.Column("mobiles", sa.JSON, nullable=True))
