"""The notify service's events: a message (SMS or call) that could not be delivered, which the
unit admin hears of; each status a notification or its message takes; and who changed an
escalation policy or a template (``notify_policy_changed``, ``notify_template_changed``). The
archive's ledger keeps them all."""
from marshmallow import fields, validate

from ..events import EventData
from ..exchange.schemas import URGENCIES


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


class MessageStatusData(EventData):
    """A notification (who was told of a document, 001 §21) or its message took a status: one
    event for each status a reader sees, in the order they came; never again for the same one."""

    message_id = fields.String(allow_none=True, metadata={"description": "none while nothing was sent"})
    notification_id = fields.String(allow_none=True, metadata={"description": "none for a message of its own"})
    document_id = fields.String(allow_none=True)
    unit_code = fields.String(required=True, metadata={"description": "the recipient unit the notice concerns"})
    issuer_code = fields.String(allow_none=True, metadata={"description": "the document's sender"})
    user_id = fields.String(allow_none=True)
    role = fields.String(allow_none=True, metadata={"description": "clerk, leader, deputy_leader, admin, "
                                                                   "sender_clerk"})
    channel = fields.String(required=True, validate=validate.OneOf(("sms", "voice")))
    to = fields.String(allow_none=True, metadata={"description": "masked: +86 138****8000"})
    step = fields.Integer(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(
        ("skipped", "cancelled", "queued", "sent", "delivered", "undelivered", "failed")))
    reason = fields.String(allow_none=True, metadata={"description": "why skipped or cancelled"})
    error_code = fields.String(allow_none=True)
    created_at = fields.String(required=True)
    sent_at = fields.String(allow_none=True)
    delivered_at = fields.String(allow_none=True)
    price = fields.String(allow_none=True)
    price_unit = fields.String(allow_none=True)
    at = fields.String(required=True, metadata={"description": "when it took the status"})


class ChangedByData(EventData):
    changed_by = fields.String(required=True, metadata={"description": "the user whose authority was used"})
    proxy_user_id = fields.String(allow_none=True, metadata={"description": "the proxy who acted for them, if any"})
    at = fields.String(required=True)


class PolicyChangedData(ChangedByData):
    unit_code = fields.String(allow_none=True, metadata={"description": "None: the operator's default"})
    urgency = fields.String(required=True, validate=validate.OneOf(URGENCIES))
    before_sha256 = fields.String(allow_none=True, metadata={"description": "of the policy's JSON it replaced "
                                                                            "(None: the unit had none of its own)"})
    after_sha256 = fields.String(allow_none=True, metadata={"description": "None: back to the default"})
    policy = fields.Dict(allow_none=True, metadata={"description": "the new policy as stored"})


class TemplateChangedData(ChangedByData):
    name = fields.String(required=True)
    text = fields.String(required=True)
    approved = fields.Boolean(required=True)
    before_sha256 = fields.String(required=True, metadata={"description": "of the text it replaced"})
    after_sha256 = fields.String(required=True)
    was_approved = fields.Boolean(required=True)


EVENTS = {"sms_failed": SmsFailedData, "message_status": MessageStatusData,
          "notify_policy_changed": PolicyChangedData, "notify_template_changed": TemplateChangedData}
