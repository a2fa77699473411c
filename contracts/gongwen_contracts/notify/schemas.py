"""Request and response shapes of the notify service (the gateway declares its routes with them;
notify validates what it receives with them)."""
import re

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from gongwen_common.fields import StrictBoolean
from gongwen_contracts.exchange.schemas import URGENCIES

# The placeholders each template may use (the notify service fills them).
PLACEHOLDERS = {
    "urgent_alert": ("sender", "urgency", "doc_number", "title", "due", "link"),
    "reminder": ("sender", "doc_number", "title", "due", "link"),
    "chase": ("recipient", "doc_number", "title", "due", "link"),
    "combined": ("count", "items", "link"),
    "combined_item": ("sender", "doc_number", "title", "due"),
    "voice": ("sender", "urgency", "doc_number", "title"),
    "certificate_expiring": ("certificate", "unit", "serial", "days", "expires"),
}
# Templates of alerts that are not a document's (no escalation step may use them).
ALERT_TEMPLATES = ("certificate_expiring",)
AUDIENCES = ("recipient_clerks", "recipient_leader", "recipient_deputy_leader", "recipient_admin", "sender_clerks")
STARTS = ("sent", "due")
CHANNELS = ("sms", "voice")
DURATION = re.compile(r"^(\d{1,5})([smhd])$")
CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
MAX_STEPS = 20
MAX_REPEATS = 10


class Duration(fields.String):
    """A non-negative duration: digits and a unit, ``90s``, ``15m``, ``2h``, ``1d``."""

    def __init__(self, metadata=None, **kwargs):
        super().__init__(validate=validate.Regexp(DURATION, error="a duration such as 30s, 15m, 2h or 1d"),
                         metadata={"pattern": DURATION.pattern, "example": "15m", **(metadata or {})}, **kwargs)


class RepeatSchema(Schema):
    every = Duration(required=True)
    times = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_REPEATS),
                           metadata={"description": "how many more times the step fires after the first"})

    @validates_schema
    def _not_zero(self, data, **kwargs):
        if DURATION.match(data.get("every", "")) and int(DURATION.match(data["every"]).group(1)) == 0:
            raise ValidationError({"every": ["a repeat needs a positive interval"]})


class StepSchema(Schema):
    after = Duration(required=True, metadata={"description": "delay from the send or from the receipt's due time"})
    from_ = fields.String(required=True, data_key="from", validate=validate.OneOf(STARTS))
    audience = fields.String(required=True, validate=validate.OneOf(AUDIENCES))
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    repeat = fields.Nested(RepeatSchema, load_default=None, allow_none=True)
    template = fields.String(load_default=None, allow_none=True,
                             validate=validate.OneOf(sorted(set(PLACEHOLDERS) - set(ALERT_TEMPLATES))),
                             metadata={"description": "the template's name; by default the step's kind decides"})


class QuietHoursSchema(Schema):
    start = fields.String(required=True, validate=validate.Regexp(CLOCK_TIME), metadata={"example": "21:00"})
    end = fields.String(required=True, validate=validate.Regexp(CLOCK_TIME), metadata={"example": "08:00"})

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if data.get("start") is not None and data.get("start") == data.get("end"):
            raise ValidationError({"end": ["quiet hours need a start and a different end"]})


class PolicySchema(Schema):
    """An escalation policy: ordered steps, and quiet hours (Asia/Shanghai) for normal documents."""

    steps = fields.List(fields.Nested(StepSchema), required=True, validate=validate.Length(max=MAX_STEPS))
    quiet_hours = fields.Nested(QuietHoursSchema, load_default=None, allow_none=True)


class PolicyViewSchema(PolicySchema):
    urgency = fields.String(validate=validate.OneOf(URGENCIES))
    unit_code = fields.String(allow_none=True)
    source = fields.String(validate=validate.OneOf(("config", "operator", "unit")))
    updated_by = fields.String(allow_none=True)
    updated_at = fields.DateTime(allow_none=True)


class UnitPolicySchema(Schema):
    """A unit's own policies, per urgency; each one given must be tighter than the default, null
    returns that urgency to the default."""

    normal = fields.Nested(PolicySchema, allow_none=True)
    urgent = fields.Nested(PolicySchema, allow_none=True)
    extra_urgent = fields.Nested(PolicySchema, allow_none=True)


class UnitPolicyViewSchema(Schema):
    unit_code = fields.String()
    policies = fields.Dict(keys=fields.String(validate=validate.OneOf(URGENCIES)),
                           values=fields.Nested(PolicyViewSchema))


class TemplateSchema(Schema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=500))
    approved = StrictBoolean(required=True)


class TemplateViewSchema(TemplateSchema):
    name = fields.String()
    placeholders = fields.List(fields.String())
    source = fields.String(validate=validate.OneOf(("config", "operator")))
    updated_by = fields.String(allow_none=True)
    updated_at = fields.DateTime(allow_none=True)


class NotificationSchema(Schema):
    id = fields.String()
    unit_code = fields.String()
    user_id = fields.String(allow_none=True)
    role = fields.String()
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    to = fields.String(allow_none=True, metadata={"description": "masked: +86 138****8000"})
    step = fields.Integer()
    status = fields.String(validate=validate.OneOf(("pending", "skipped", "queued", "sent", "delivered",
                                                     "undelivered", "failed", "cancelled")))
    reason = fields.String(allow_none=True)
    error_code = fields.String(allow_none=True)
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)


class NotificationListSchema(Schema):
    items = fields.List(fields.Nested(NotificationSchema))
