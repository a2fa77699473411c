"""Request and response shapes of the registry (API.md "Units"): the registry validates each
request with these schemas (once: the gateway forwards bodies as they come), the gateway
documents them."""
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from gongwen_common.fields import StrictBoolean  # noqa: F401  (also imported from here)

UNIT_KINDS = ("government", "department", "district", "public_body", "enterprise", "operator", "secrecy_bureau")
UNIT_STATUSES = ("applied", "active", "revoked")
DOCUMENT_POLICIES = ("keep", "transfer", "archive")
UNIT_CODE = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")
UNIT_NAME = validate.Length(min=2, max=200)
MAX_RESOLVE = 1000
# Some character that is not white space, spelled out: Python's \s and the ECMA \s of the OpenAPI
# document disagree (Python counts \x1c-\x1f and \x85, ECMA counts \ufeff), so the document and the
# check must name the same characters (the check anchors at the start, the document's pattern does not).
NOT_ONLY_SPACE = "[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"


class UserId(fields.String):
    """A user id as identity issues it; API ids are strings, an integer id is taken as its string."""

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Length(min=1, max=64), **kwargs)

    # as the OpenAPI document says it: a text of 1–64 characters, or an integer of at most 64 digits
    OPENAPI_PROPERTY = {"oneOf": [{"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[^\\u0000]*$"},
                                  {"type": "integer", "minimum": -(10**63 - 1), "maximum": 10**64 - 1}]}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return super()._deserialize(value, attr, data, **kwargs)


class UnitApplicationSchema(Schema):
    """What an applicant unit submits (POST /api/v1/units)."""

    code = fields.String(required=True, validate=UNIT_CODE,
                         metadata={"description": "stable unit code", "example": "gz-fgw"})
    name = fields.String(required=True, validate=UNIT_NAME, metadata={"example": "广州市发展和改革委员会"})
    kind = fields.String(required=True, validate=validate.OneOf(UNIT_KINDS))
    parent_code = fields.String(load_default=None, allow_none=True)


class RenameSchema(Schema):
    """POST /api/v1/units/{code}/rename."""

    name = fields.String(required=True, validate=UNIT_NAME)


class RevocationSchema(Schema):
    """POST /api/v1/units/{code}/revoke: the revoking decision (撤销, 003 §10(二))."""

    reason = fields.String(required=True, validate=[validate.Length(max=500),
                                                    validate.Regexp(r"[\s\S]*?" + NOT_ONLY_SPACE)])
    documents = fields.String(required=True, validate=validate.OneOf(DOCUMENT_POLICIES),
                              metadata={"description": "what becomes of the unit's documents"})
    successor_code = fields.String(load_default=None, allow_none=True,
                                   metadata={"description": "receives the documents; only with transfer"})

    # what _successor_goes_with_transfer checks, as the OpenAPI document says it
    OPENAPI_EXTRA = {"oneOf": [
        {"properties": {"documents": {"enum": ["transfer"]}, "successor_code": {"type": "string", "minLength": 1}},
         "required": ["successor_code"]},
        {"properties": {"documents": {"enum": ["keep", "archive"]},
                        "successor_code": {"type": "string", "maxLength": 0, "nullable": True}}}]}

    @validates_schema
    def _successor_goes_with_transfer(self, data, **kwargs):
        if data.get("documents") == "transfer" and not data.get("successor_code"):
            raise ValidationError({"successor_code": ["Required when documents is transfer."]})
        # A successor named beside keep/archive would tell consumers to move documents nobody moves.
        if data.get("documents") in ("keep", "archive") and data.get("successor_code"):
            raise ValidationError({"successor_code": ["Only with documents transfer."]})


class MergeSchema(Schema):
    """POST /api/v1/units/merge (合并, 003 §10(三)): into a kept unit, or into a new one."""

    from_codes = fields.List(fields.String(), required=True, validate=validate.Length(min=1),
                             metadata={"uniqueItems": True})
    into_code = fields.String(load_default=None, allow_none=True)
    new = fields.Nested(UnitApplicationSchema, load_default=None, allow_none=True)

    # what _one_target_and_distinct_units checks, as the OpenAPI document says it
    OPENAPI_EXTRA = {"oneOf": [
        {"properties": {"into_code": {"type": "string"}, "new": {"type": "object", "nullable": True, "enum": [None]}},
         "required": ["into_code"]},
        {"properties": {"new": {"$ref": "#/components/schemas/UnitApplication"},
                        "into_code": {"type": "string", "nullable": True, "enum": [None]},
                        "from_codes": {"minItems": 2}},
         "required": ["new"]}]}

    @validates_schema
    def _one_target_and_distinct_units(self, data, **kwargs):
        if (data.get("into_code") is None) == (data.get("new") is None):
            raise ValidationError("Give exactly one of into_code and new.")
        codes = data.get("from_codes") or []
        if len(set(codes)) != len(codes):
            raise ValidationError({"from_codes": ["A unit is named more than once."]})
        # Merging one unit into a new one is a rename under a new code, not a merge.
        if data.get("new") is not None and len(codes) < 2:
            raise ValidationError({"from_codes": ["A merge into a new unit needs at least 2 units."]})


class ContactsSchema(Schema):
    """PUT /api/v1/units/{code}/contacts: who holds each role (备案), each an active user of the unit.
    Their mobiles are their accounts' (identity), the one source SMS reminders use."""

    admin_user_id = UserId(required=True)
    clerk_user_ids = fields.List(UserId(), required=True, validate=validate.Length(min=1, max=2),
                                 metadata={"uniqueItems": True})
    leader_user_id = UserId(required=True)
    deputy_leader_user_id = UserId(load_default=None, allow_none=True)
    sms_enabled = StrictBoolean(required=True)

    @validates_schema
    def _distinct_clerks(self, data, **kwargs):
        clerks = data.get("clerk_user_ids") or []
        if len(set(clerks)) != len(clerks):
            raise ValidationError({"clerk_user_ids": ["A clerk is named more than once."]})


class ActorSchema(Schema):
    """Who acts: at least a user id; whatever else the gateway passes along is kept out of the way."""

    class Meta:
        unknown = EXCLUDE

    user_id = UserId(required=True)
    proxy_user_id = UserId(load_default=None, allow_none=True)  # a proxy (代理人) acting for user_id


class ResolveSchema(Schema):
    codes = fields.List(fields.String(), required=True, validate=validate.Length(max=MAX_RESOLVE))


class ContactsViewSchema(Schema):
    admin_user_id = fields.String(allow_none=True)
    clerk_user_ids = fields.List(fields.String())
    leader_user_id = fields.String(allow_none=True)
    deputy_leader_user_id = fields.String(allow_none=True)


class RevocationViewSchema(Schema):
    reason = fields.String()
    documents = fields.String(validate=validate.OneOf(DOCUMENT_POLICIES))
    successor_code = fields.String(allow_none=True)
    revoked_at = fields.DateTime()
    revoked_by = fields.String()


class UnitSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    parent_code = fields.String(allow_none=True)
    status = fields.String(validate=validate.OneOf(UNIT_STATUSES))
    former_names = fields.List(fields.String(), metadata={"description": "oldest first"})
    sms_enabled = fields.Boolean()
    contacts = fields.Nested(ContactsViewSchema)
    revocation = fields.Nested(RevocationViewSchema, allow_none=True)
    created_at = fields.DateTime()
    version = fields.Integer(metadata={"description": "increases with every change of the unit"})
