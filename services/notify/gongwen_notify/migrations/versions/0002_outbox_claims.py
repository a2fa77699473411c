"""outbox claims (a relay's lease on unsent rows) and pending idempotency records

Revision ID: 0002
Revises: 0001
"""
from alembic import op

from gongwen_common.migrate import add_outbox_claims, drop_outbox_claims

revision = "0002"
down_revision = "0001"


def upgrade():
    add_outbox_claims(op)


def downgrade():
    drop_outbox_claims(op)
