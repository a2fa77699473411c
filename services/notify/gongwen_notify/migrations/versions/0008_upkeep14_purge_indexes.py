"""indexes the housekeeping purges search by (handled_events.handled_at,
idempotency_records.created_at, dead_letters.replayed_at)

Revision ID: 0006_upkeep14_purge_indexes
Revises: 0006_notify12_audit
"""
from alembic import op

from gongwen_common.migrate import add_housekeeping_indexes, drop_housekeeping_indexes

revision = "0006_upkeep14_purge_indexes"
down_revision = "0006_notify12_audit"


def upgrade():
    add_housekeeping_indexes(op)


def downgrade():
    drop_housekeeping_indexes(op)
