"""The notify service's events: a message (SMS or call) that could not be delivered, which the
unit admin hears of and the archive's ledger keeps."""
from marshmallow import fields, validate

from ..events import EventData


class SmsFailedData(EventData):
    message_id = fields.String(required=True)
    reference = fields.String(required=True, metadata={"description": "the short code the text carries"})
    channel = fields.String(required=True, validate=validate.OneOf(("sms", "voice")))
    unit_code = fields.String(required=True, metadata={"description": "the unit that pays for it"})
    document_id = fields.String(allow_none=True)
    user_id = fields.String(allow_none=True)
    to = fields.String(required=True, metadata={"description": "masked: +86 138****8000"})
    status = fields.String(required=True, validate=validate.OneOf(("failed", "undelivered")))
    error_code = fields.String(allow_none=True)
    error_message = fields.String(allow_none=True)
    attempts = fields.Integer(required=True)
    at = fields.String(required=True)


EVENTS = {"sms_failed": SmsFailedData}
