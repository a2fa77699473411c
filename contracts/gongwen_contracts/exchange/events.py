"""The exchange's events: each carries the document's summary, and what happened to which receipt."""
from marshmallow import fields, validate

from ..events import EventData
from .schemas import URGENCIES


class DocumentData(EventData):
    """The document's summary, in every exchange event."""

    id = fields.String(required=True)
    issuer_code = fields.String(required=True)
    doc_number = fields.String(required=True)
    title = fields.String(required=True)
    urgency = fields.String(required=True, validate=validate.OneOf(URGENCIES))
    sent_at = fields.DateTime(required=True)
    status = fields.String(required=True)


class ReceiptBriefData(EventData):
    receipt_id = fields.String(required=True)
    unit_code = fields.String(required=True)
    role = fields.String(required=True)
    due_at = fields.DateTime(required=True)
    generation = fields.Integer(required=True)


class DocumentSentData(DocumentData):
    """Sent, sent again (``resend``) or transferred to a revoked unit's successor (``transferred_from``)."""

    receipts = fields.List(fields.Nested(ReceiptBriefData), required=True)
    resend = fields.Boolean()
    transferred_from = fields.String()


class DocumentRecalledData(DocumentData):
    unit_codes = fields.List(fields.String(), required=True)
    reason = fields.String(metadata={"description": "seal_revoked when withdrawn before it was sent"})


class ReceiptChangedData(DocumentData):
    """Signed, registered, returned or served on paper: the receipt as the matrix shows it."""

    receipt = fields.Dict(required=True)


class DocumentCompletedData(DocumentData):
    completed_at = fields.DateTime(required=True)


class ResendRequestedData(DocumentData):
    unit_code = fields.String(required=True)
    reason = fields.String(required=True)


class OneReceiptData(DocumentData):
    """What happened to one recipient's receipt, named by its unit and id."""

    unit_code = fields.String(required=True)
    receipt_id = fields.String(required=True)


class DocumentReadData(OneReceiptData):
    read_at = fields.DateTime(required=True)
    read_by = fields.String(required=True)


class ReceiptClosedData(OneReceiptData):
    closed_reason = fields.String(required=True)
    successor_code = fields.String(allow_none=True)


class ReceiptOverdueData(OneReceiptData):
    state = fields.String(required=True)
    due_at = fields.DateTime(required=True)
    overdue_at = fields.DateTime(required=True)


EVENTS = {
    "document_sent": DocumentSentData,
    "document_recalled": DocumentRecalledData,
    "document_read": DocumentReadData,
    "document_completed": DocumentCompletedData,
    "document_returned": ReceiptChangedData,
    "receipt_signed": ReceiptChangedData,
    "receipt_registered": ReceiptChangedData,
    "receipt_paper_served": ReceiptChangedData,
    "receipt_closed": ReceiptClosedData,
    "resend_requested": ResendRequestedData,
    "receipt_overdue": ReceiptOverdueData,
}
