"""documents, blobs, receipts, print and resend requests, working calendar, presence, audit

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

from gongwen_common import audit
from gongwen_common.tables import UtcDateTime

revision = "0002"
down_revision = "0001"


def upgrade():
    audit.create_table(op)
    op.create_table('blobs',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint('sha256')
    )
    op.create_table('calendar_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('working', sa.Boolean(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('day')
    )
    op.create_table('calendar_years',
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('loaded_by', sa.String(length=80), nullable=False),
    sa.Column('loaded_at', UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint('year')
    )
    op.create_table('presence',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.String(length=80), nullable=False),
    sa.Column('unit_code', sa.String(length=64), nullable=False),
    sa.Column('seen_at', UtcDateTime, nullable=False),
    sa.Column('via', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_presence_seen_at'), 'presence', ['seen_at'], unique=False)
    op.create_index(op.f('ix_presence_unit_code'), 'presence', ['unit_code'], unique=False)
    op.create_index(op.f('ix_presence_user_id'), 'presence', ['user_id'], unique=False)
    op.create_table('documents',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('issuer_code', sa.String(length=64), nullable=False),
    sa.Column('doc_number', sa.String(length=100), nullable=False),
    sa.Column('doc_year', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('signer', sa.String(length=100), nullable=False),
    sa.Column('urgency', sa.String(length=16), nullable=False),
    sa.Column('metadata_json', sa.JSON(), nullable=False),
    sa.Column('manifest', sa.LargeBinary(), nullable=False),
    sa.Column('manifest_sha256', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.LargeBinary(), nullable=True),
    sa.Column('seal_serial', sa.String(length=32), nullable=True),
    sa.Column('body_name', sa.String(length=255), nullable=False),
    sa.Column('body_sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('sent_at', UtcDateTime, nullable=False),
    sa.Column('sent_by', sa.String(length=80), nullable=False),
    sa.Column('sent_by_proxy', sa.String(length=80), nullable=True),
    sa.Column('recalled_at', UtcDateTime, nullable=True),
    sa.Column('recalled_by', sa.String(length=80), nullable=True),
    sa.Column('completed_at', UtcDateTime, nullable=True),
    sa.ForeignKeyConstraint(['body_sha256'], ['blobs.sha256'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('issuer_code', 'doc_year', 'doc_number')
    )
    op.create_index(op.f('ix_documents_issuer_code'), 'documents', ['issuer_code'], unique=False)
    op.create_index(op.f('ix_documents_sent_at'), 'documents', ['sent_at'], unique=False)
    op.create_table('attachments',
    sa.Column('document_id', sa.String(length=36), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], ),
    sa.ForeignKeyConstraint(['sha256'], ['blobs.sha256'], ),
    sa.PrimaryKeyConstraint('document_id', 'position')
    )
    op.create_table('receipts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('document_id', sa.String(length=36), nullable=False),
    sa.Column('unit_code', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=8), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('latest', sa.Boolean(), nullable=False),
    sa.Column('resent_from', sa.String(length=36), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('delivered_at', UtcDateTime, nullable=False),
    sa.Column('due_at', UtcDateTime, nullable=False),
    sa.Column('overdue_at', UtcDateTime, nullable=True),
    sa.Column('first_read_at', UtcDateTime, nullable=True),
    sa.Column('first_read_by', sa.String(length=80), nullable=True),
    sa.Column('signed_at', UtcDateTime, nullable=True),
    sa.Column('signed_by', sa.String(length=80), nullable=True),
    sa.Column('signed_by_proxy', sa.String(length=80), nullable=True),
    sa.Column('registered_at', UtcDateTime, nullable=True),
    sa.Column('registered_by', sa.String(length=80), nullable=True),
    sa.Column('registered_by_proxy', sa.String(length=80), nullable=True),
    sa.Column('registration_number', sa.String(length=100), nullable=True),
    sa.Column('returned_at', UtcDateTime, nullable=True),
    sa.Column('returned_by', sa.String(length=80), nullable=True),
    sa.Column('returned_by_proxy', sa.String(length=80), nullable=True),
    sa.Column('return_reason', sa.String(length=500), nullable=True),
    sa.Column('recalled_at', UtcDateTime, nullable=True),
    sa.Column('paper_served_at', UtcDateTime, nullable=True),
    sa.Column('paper_served_by', sa.String(length=80), nullable=True),
    sa.Column('paper_note', sa.String(length=500), nullable=True),
    sa.Column('print_copies_granted', sa.Integer(), nullable=False),
    sa.Column('print_copies_used', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('document_id', 'unit_code', 'generation')
    )
    op.create_index(op.f('ix_receipts_document_id'), 'receipts', ['document_id'], unique=False)
    op.create_index('ix_receipts_open_due', 'receipts', ['state', 'due_at'], unique=False)
    op.create_index(op.f('ix_receipts_unit_code'), 'receipts', ['unit_code'], unique=False)
    op.create_table('print_requests',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('receipt_id', sa.String(length=36), nullable=False),
    sa.Column('copies', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('requested_at', UtcDateTime, nullable=False),
    sa.Column('requested_by', sa.String(length=80), nullable=False),
    sa.Column('answered_at', UtcDateTime, nullable=True),
    sa.Column('answered_by', sa.String(length=80), nullable=True),
    sa.ForeignKeyConstraint(['receipt_id'], ['receipts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_print_requests_receipt_id'), 'print_requests', ['receipt_id'], unique=False)
    op.create_table('resend_requests',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('receipt_id', sa.String(length=36), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('requested_at', UtcDateTime, nullable=False),
    sa.Column('requested_by', sa.String(length=80), nullable=False),
    sa.Column('answered_at', UtcDateTime, nullable=True),
    sa.ForeignKeyConstraint(['receipt_id'], ['receipts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_resend_requests_receipt_id'), 'resend_requests', ['receipt_id'], unique=False)


def downgrade():

    op.drop_index(op.f('ix_resend_requests_receipt_id'), table_name='resend_requests')
    op.drop_table('resend_requests')
    op.drop_index(op.f('ix_print_requests_receipt_id'), table_name='print_requests')
    op.drop_table('print_requests')
    op.drop_index(op.f('ix_receipts_unit_code'), table_name='receipts')
    op.drop_index('ix_receipts_open_due', table_name='receipts')
    op.drop_index(op.f('ix_receipts_document_id'), table_name='receipts')
    op.drop_table('receipts')
    op.drop_table('attachments')
    op.drop_index(op.f('ix_documents_sent_at'), table_name='documents')
    op.drop_index(op.f('ix_documents_issuer_code'), table_name='documents')
    op.drop_table('documents')
    op.drop_index(op.f('ix_presence_user_id'), table_name='presence')
    op.drop_index(op.f('ix_presence_unit_code'), table_name='presence')
    op.drop_index(op.f('ix_presence_seen_at'), table_name='presence')
    op.drop_table('presence')
    op.drop_table('calendar_years')
    op.drop_table('calendar_days')
    op.drop_table('blobs')
    op.drop_index(op.f('ix_audit_records_subject_id'), table_name='audit_records')
    op.drop_index(op.f('ix_audit_records_occurred_at'), table_name='audit_records')
    op.drop_table('audit_records')
