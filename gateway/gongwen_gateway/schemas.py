"""HTTP-only schemas; payload schemas of a service come from that service's ``schemas``."""
from marshmallow import Schema, fields, validate

from gongwen_exchange.schemas import URGENCIES
from gongwen_identity.schemas import PASSWORD_POLICY, USER_STATUSES, UserSchema
from gongwen_registry.schemas import UnitSchema

from .routes import SERVICES


class ErrorSchema(Schema):
    error = fields.String(required=True, metadata={"example": "VALIDATION_ERROR"})
    message = fields.String(required=True)
    request_id = fields.String(required=True)
    fields_ = fields.Dict(data_key="fields", keys=fields.String(), values=fields.Raw())


class ServiceHealthSchema(Schema):
    service = fields.String()
    status = fields.String(validate=validate.OneOf(["ok", "down"]))
    database = fields.String()
    instance = fields.String()
    outbox_pending = fields.Integer()
    dead_letters = fields.Integer()
    error = fields.String()
    calendar = fields.Dict(keys=fields.String(), values=fields.String(validate=validate.OneOf(
        ["official", "library", "weekends_only"])), metadata={"description": "exchange only: each year's "
                                                                            "holiday schedule"})
    warnings = fields.List(fields.String(), metadata={"description": "exchange only: what the operator must do"})


class HealthSchema(Schema):
    status = fields.String(validate=validate.OneOf(["ok", "degraded"]))
    services = fields.Dict(keys=fields.String(), values=fields.Nested(ServiceHealthSchema))


class Page(Schema):
    """A list answer (API.md): ``{"items": [...], "next_cursor": "…" | null}``; subclasses declare ``items``."""

    next_cursor = fields.String(allow_none=True)


class UnitPageSchema(Page):
    items = fields.List(fields.Nested(UnitSchema))


class DeadLetterSchema(Schema):
    id = fields.Integer()
    service = fields.String()
    queue = fields.String()
    event_type = fields.String(allow_none=True)
    event_id = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    dead_at = fields.DateTime()
    replayed_at = fields.DateTime(allow_none=True)
    replay_count = fields.Integer()
    body = fields.Dict()


class DeadLetterListSchema(Schema):
    items = fields.List(fields.Nested(DeadLetterSchema))


class ListQuerySchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None, validate=validate.Length(max=100),
                           metadata={"description": "the next_cursor of the previous page"})


RECEIPT_STATES = ("delivered", "read", "signed", "registered", "returned", "recalled", "paper_served")


class UnitListQuerySchema(ListQuerySchema):
    q = fields.String(load_default=None, validate=validate.Length(max=100))
    parent = fields.String(load_default=None, validate=validate.Length(max=64))


class InboxQuerySchema(ListQuerySchema):
    state = fields.String(load_default=None, validate=validate.OneOf(RECEIPT_STATES))
    urgency = fields.String(load_default=None, validate=validate.OneOf(URGENCIES))
    since = fields.AwareDateTime(load_default=None, metadata={"description": "RFC 3339 time with offset"})


class PresenceQuerySchema(Schema):
    date = fields.Date(required=True)
    unit = fields.String(load_default=None, validate=validate.Length(max=64))


class DeadLetterQuerySchema(Schema):
    service = fields.String(load_default=None, validate=validate.OneOf(SERVICES))
    include_replayed = fields.Boolean(load_default=False)


class ChallengeRequestSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=100))


class ChallengeSchema(Schema):
    challenge_id = fields.String(required=True)
    nonce = fields.String(required=True, metadata={"description": "base64 of 32 random bytes; sign the raw bytes"})
    expires_at = fields.DateTime()


class ClientCredentialsSchema(Schema):
    client_id = fields.String(required=True)
    client_secret = fields.String(required=True, load_only=True)


class PasswordChangeSchema(Schema):
    old_password = fields.String(required=True, load_only=True)
    new_password = fields.String(required=True, load_only=True, metadata=PASSWORD_POLICY)


class JwksSchema(Schema):
    keys = fields.List(fields.Dict(), required=True)


class ActingProxySchema(Schema):
    user_id = fields.String(required=True)
    username = fields.String(required=True)


class MeSchema(Schema):
    user_id = fields.String(required=True)
    username = fields.String(required=True)
    name = fields.String()
    unit_code = fields.String()
    roles = fields.List(fields.String())
    proxy = fields.Nested(ActingProxySchema, allow_none=True,
                          metadata={"description": "the proxy (代理人) acting with this user's authority, if any"})


class ActForRequestSchema(Schema):
    principal_user_id = fields.String(required=True, validate=validate.Length(min=1, max=36))


class ActForResultSchema(Schema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True, metadata={"description": "never beyond the proxy window's end"})
    must_change_password = fields.Boolean(required=True)
    principal_user_id = fields.String(required=True)
    proxy_user_id = fields.String(required=True)


class DisableSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=2, max=500))


class ResetPasswordSchema(Schema):
    initial_password = fields.String(required=True, load_only=True, metadata=PASSWORD_POLICY)


class DeviceSchema(Schema):
    public_key = fields.String(required=True, metadata={"description": "EC P-256 public key, PEM"})


class ClientSchema(Schema):
    client_id = fields.String(required=True)
    unit_code = fields.String(required=True)
    client_secret = fields.String(required=True, metadata={"description": "shown once"})


# -- seals -----------------------------------------------------------------------------------

class CustodySchema(Schema):
    required_approvals = fields.Integer(required=True, validate=validate.OneOf((1, 2)),
                                        metadata={"description": "2 = two-person custody (双人保管)"})
    custodian_user_ids = fields.List(fields.String(validate=validate.Length(min=1, max=80)), required=True,
                                     validate=validate.Length(min=1, max=5))


class SealApplicationSchema(Schema):
    unit_code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    custody = fields.Nested(CustodySchema, required=True)


class SealSchema(Schema):
    serial = fields.String(required=True)
    unit_code = fields.String(required=True)
    unit_name = fields.String()
    status = fields.String(metadata={"description": "applied | active | revoked | destroyed"})
    certificate_serial = fields.String(allow_none=True)
    not_before = fields.String(allow_none=True)
    not_after = fields.String(allow_none=True)
    applied_at = fields.String()
    approved_at = fields.String(allow_none=True)
    revoked_at = fields.String(allow_none=True)
    revocation_reason = fields.String(allow_none=True)
    destroyed_at = fields.String(allow_none=True)
    replaces_serial = fields.String(allow_none=True)
    custody = fields.Nested(CustodySchema)
    image_source = fields.String()


class SealRevocationSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=2, max=500))


class UseApprovalRequestSchema(Schema):
    manifest_sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))


class UseApprovalSchema(Schema):
    approval_id = fields.String(required=True)
    seal_serial = fields.String()
    manifest_sha256 = fields.String()
    custodian_user_id = fields.String()
    approved_at = fields.String()
    expires_at = fields.String()


class DestructionSchema(SealSchema):
    destruction = fields.Dict(metadata={"description": "{recorded: [parties], missing: [parties]}"})


class SealingSchema(Schema):
    signature = fields.String(required=True, metadata={"description": "base64 of the detached CMS SignedData (DER)"})
    seal_serial = fields.String(required=True)
    manifest_sha256 = fields.String(required=True)
    signed_at = fields.String(required=True)
    approvals_used = fields.List(fields.String())


class VerificationSchema(Schema):
    valid = fields.Boolean(required=True)
    reason = fields.String(allow_none=True, metadata={
        "description": "SIGNATURE_INVALID | DIGEST_MISMATCH | SEAL_REVOKED | UNKNOWN_ISSUER | UNIT_MISMATCH | "
                       "CERT_EXPIRED | MALFORMED_SIGNATURE"})
    unit_code = fields.String(allow_none=True)
    seal_serial = fields.String(allow_none=True)
    signed_at = fields.String(allow_none=True)
    seal_status = fields.String(allow_none=True, metadata={"description": "the seal's status now (e.g. destroyed "
                                                                          "since, yet valid at signing time)"})
    seal_status_since = fields.String(allow_none=True)
    manifest_sha256 = fields.String(allow_none=True)


# -- documents -------------------------------------------------------------------------------

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


class ReceiptPageSchema(Page):
    items = fields.List(fields.Dict(), required=True)


class PrintSchema(Schema):
    copy_number = fields.Integer(required=True)
    copies_left = fields.Integer(required=True)
    stamp = fields.Dict(metadata={"description": "the verification stamp (print serial, seal image)"})


# -- identity listings (API.md "Users": ``?unit=&status=&q=&limit=&cursor=``) ----------------

class PeopleQuerySchema(ListQuerySchema):
    """The filters of GET /users, /units/{code}/clients and /proxies; identity checks them too."""

    unit = fields.String(load_default=None, validate=validate.Length(max=64))
    status = fields.String(load_default=None, validate=validate.OneOf(USER_STATUSES))
    q = fields.String(load_default=None, validate=validate.Length(max=100))


class ProxyQuerySchema(PeopleQuerySchema):
    status = fields.String(load_default=None, validate=validate.OneOf(("upcoming", "active", "ended")))


class ClientQuerySchema(PeopleQuerySchema):
    class Meta:
        exclude = ("unit",)  # the path names the unit

    status = fields.String(load_default=None, validate=validate.OneOf(("active", "disabled", "revoked")))


class UserPageSchema(Page):
    items = fields.List(fields.Nested(UserSchema), required=True)


class ClientInfoSchema(Schema):
    """A listed client: never its secret, nor the secret's hash."""

    client_id = fields.String(required=True)
    unit_code = fields.String(required=True)
    status = fields.String(metadata={"description": "active | disabled (unit revoked) | revoked"})
    created_by = fields.String()
    created_at = fields.DateTime()
    rotated_at = fields.DateTime(allow_none=True)
    revoked_by = fields.String(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)


class ClientPageSchema(Page):
    items = fields.List(fields.Nested(ClientInfoSchema), required=True)


class ProxyViewSchema(Schema):
    proxy_id = fields.String(required=True)
    principal_user_id = fields.String(required=True)
    proxy_user_id = fields.String(required=True)
    unit_code = fields.String()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    set_by = fields.String()


class ProxyPageSchema(Page):
    items = fields.List(fields.Nested(ProxyViewSchema), required=True)
