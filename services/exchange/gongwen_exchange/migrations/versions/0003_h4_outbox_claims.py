"""outbox claims (a relay's lease on unsent rows) and pending idempotency records

Revision ID: 0003_h4_outbox_claims
Revises: 0002
"""
from alembic import op

from gongwen_common.migrate import add_outbox_claims, drop_outbox_claims

revision = "0003_h4_outbox_claims"
down_revision = "0002"


def upgrade():
    add_outbox_claims(op)


def downgrade():
    drop_outbox_claims(op)
