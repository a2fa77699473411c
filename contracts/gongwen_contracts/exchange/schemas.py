"""Request and response shapes of the exchange (API.md "Documents"): the exchange validates each
request with these schemas (once: the gateway forwards bodies and the metadata part as they come),
the gateway documents them."""
from collections import Counter

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from gongwen_common.fields import StrictBoolean

URGENCIES = ("normal", "urgent", "extra_urgent")  # 平急, 加急, 特急
RECEIPT_STATES = ("delivered", "read", "signed", "registered", "returned", "recalled", "paper_served")
UNIT_CODE = fields.String(validate=validate.Length(min=1, max=64))


def distinct(values):
    """A list naming each thing once: a repeat would act twice (two receipts, one approval counted twice)."""
    repeated = sorted(str(value) for value, n in Counter(values).items() if n > 1)
    if repeated:
        raise ValidationError(f"listed more than once: {repeated[:10]}")


DISTINCT = {"uniqueItems": True}  # a list validated by ``distinct``, as the OpenAPI document says it


class MetadataSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    doc_number = fields.String(required=True, validate=validate.Length(min=1, max=100),
                               metadata={"description": "发文字号, unique per issuer and year"})
    title = fields.String(required=True, validate=validate.Length(min=1, max=500))
    signer = fields.String(required=True, validate=validate.Length(min=1, max=100),
                           metadata={"description": "签发人"})
    urgency = fields.String(required=True, validate=validate.OneOf(URGENCIES))
    secrecy = fields.String(required=True, validate=validate.Length(min=1, max=32),
                            metadata={"description": "密级: only \"none\" travels here"})
    main_recipients = fields.List(UNIT_CODE, required=True, validate=[validate.Length(min=1, max=1000), distinct],
                                  metadata=DISTINCT)
    cc_recipients = fields.List(UNIT_CODE, load_default=list, validate=[validate.Length(max=1000), distinct],
                                metadata=DISTINCT)
    print_grants = fields.Dict(keys=fields.String(), values=fields.Integer(validate=validate.Range(min=0, max=1000)),
                               load_default=dict, metadata={"description": "copies each recipient may print"})
    paper_attachments = fields.List(fields.String(validate=validate.Length(min=1, max=200)), load_default=list,
                                    validate=validate.Length(max=50),
                                    metadata={"description": "parts that travel on paper (described)"})
    seal_use_approval_ids = fields.List(fields.String(validate=validate.Length(min=1, max=36)), load_default=None,
                                        allow_none=True, validate=[validate.Length(max=10), distinct],
                                        metadata={**DISTINCT,
                                                  "description": "two-person custody approvals of the manifest"})


class SealApprovalsSchema(Schema):
    seal_use_approval_ids = fields.List(fields.String(validate=validate.Length(min=1, max=36)), load_default=None,
                                        validate=[validate.Length(max=10), distinct], metadata=DISTINCT)


class RegistrationSchema(Schema):
    registration_number = fields.String(required=True, validate=validate.Length(min=1, max=100))


class ReasonSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=2, max=500))


class PrintRequestSchema(Schema):
    copies = fields.Integer(required=True, validate=validate.Range(min=1, max=100))
    reason = fields.String(required=True, validate=validate.Length(min=2, max=500))


class ResendSchema(Schema):
    unit_codes = fields.List(UNIT_CODE, required=True, validate=[validate.Length(min=1, max=1000), distinct],
                             metadata=DISTINCT)


class PaperDeliverySchema(Schema):
    unit_code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    note = fields.String(required=True, validate=validate.Length(min=2, max=500))


class CalendarDaySchema(Schema):
    date = fields.Date(required=True)
    working = StrictBoolean(required=True)
    note = fields.String(load_default=None, validate=validate.Length(max=200))


class CalendarYearSchema(Schema):
    source = fields.String(required=True, validate=validate.Length(min=2, max=500),
                           metadata={"description": "the State Council notice the schedule comes from"})
    # each date once and all in the path's year: the exchange's rules for a year (422 INVALID_CALENDAR)
    days = fields.List(fields.Nested(CalendarDaySchema), required=True, validate=validate.Length(min=1, max=366))


class DocumentSchema(Schema):
    id = fields.String(required=True)
    issuer_code = fields.String()
    doc_number = fields.String()
    title = fields.String()
    urgency = fields.String()
    status = fields.String(metadata={"description": "sent | recalled | completed"})
    sent_at = fields.String()
    manifest_sha256 = fields.String()
    seal_serial = fields.String()
    metadata = fields.Dict()
    body = fields.Dict()
    attachments = fields.List(fields.Dict())
    paper_attachments = fields.List(fields.String())
    receipts = fields.List(fields.Dict(), metadata={"description": "the sender's receipt matrix"})
    receipt = fields.Dict(metadata={"description": "a recipient's own receipt"})


class ReceiptSchema(Schema):
    receipt_id = fields.String(required=True)
    unit_code = fields.String()
    role = fields.String(metadata={"description": "main (主送) | cc (抄送)"})
    state = fields.String(metadata={"description": "delivered | read | signed | registered | returned | recalled | "
                                                   "paper_served"})
    due_at = fields.String()
    overdue = fields.Boolean()
    generation = fields.Integer()
    closed_at = fields.String(allow_none=True, metadata={"description": "when it was closed without being handled: "
                                                                        "its unit was revoked"})
    closed_reason = fields.String(allow_none=True, metadata={"description": "kept | archived | transferred (to the "
                                                                            "successor unit, as a new receipt)"})


class PrintSchema(Schema):
    copy_number = fields.Integer(required=True)
    copies_left = fields.Integer(required=True)
    stamp = fields.Dict(metadata={"description": "the verification stamp (print serial, seal image)"})
