"""Request and response shapes of identity (API.md "Users", "Authentication"): identity validates
each request with these schemas (once: the gateway forwards bodies as they come), the gateway
documents them."""
from marshmallow import Schema, fields, validate

ROLES = ("admin", "clerk", "leader", "staff", "custodian", "operator", "secrecy_officer")
USER_STATUSES = ("pending", "active", "disabled")
# A proxy window (代理人) that has not opened yet, is open, or has closed (at the time of the listing).
PROXY_STATUSES = ("upcoming", "active", "ended")
# A client ``disabled``: its unit was revoked; ``revoked``: its unit's admin or the operator revoked it.
CLIENT_STATUSES = ("active", "disabled", "revoked")
# ASCII account names: they are typed on U_Key login screens and compared case-insensitively.
USERNAME = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,63}$",
                           error="3–64 letters, digits, '.', '_' or '-', starting with a letter or digit")

# The password policy (PasswordPolicy: 8–128 characters with a letter, a digit and a symbol) as the document
# states it; identity alone checks it, with the rest no pattern can say (not a common password, not the
# username), and refuses a password with PASSWORD_TOO_WEAK (400, API.md).
_LETTER, _DIGIT, _SYMBOL = r"[^\W\d_]", r"\d", r"(?:[^\w\s]|_)"
PASSWORD_POLICY = {
    "minLength": 8, "maxLength": 128,
    "pattern": "|".join(r"[\s\S]*".join(order) for order in (
        (_LETTER, _DIGIT, _SYMBOL), (_LETTER, _SYMBOL, _DIGIT), (_DIGIT, _LETTER, _SYMBOL),
        (_DIGIT, _SYMBOL, _LETTER), (_SYMBOL, _LETTER, _DIGIT), (_SYMBOL, _DIGIT, _LETTER))),
    "description": "8–128 characters with a letter, a digit and a symbol; not a common password, not "
                   "containing the username (otherwise 400 PASSWORD_TOO_WEAK)"}


class NewUserSchema(Schema):
    """POST /api/v1/users."""

    # identity's rule: a leader or a clerk is reached by SMS, so has a mobile (otherwise 400, naming it)
    OPENAPI_EXTRA = {"anyOf": [
        {"required": ["mobile"], "properties": {"mobile": {"type": "string", "minLength": 1}}},
        {"properties": {"roles": {"items": {"not": {"enum": ["leader", "clerk"]}}}}}]}

    username = fields.String(required=True, validate=USERNAME, metadata={"example": "zhang.san"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=100), metadata={"example": "张三"})
    unit_code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    roles = fields.List(fields.String(validate=validate.OneOf(ROLES)), required=True,
                        validate=validate.Length(min=1, max=len(ROLES)))
    mobile = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32),
                           metadata={"description": "mainland numbers may omit +86", "example": "13800138000"})
    initial_password = fields.String(required=True, load_only=True, metadata=PASSWORD_POLICY)
    device_public_key = fields.String(required=True, metadata={"description": "EC P-256 public key, PEM"})


class MobileSchema(Schema):
    """PUT /api/v1/users/{id}/mobile: the account's mobile, the one number SMS reminders use (000 §11)."""

    mobile = fields.String(required=True, allow_none=True, validate=validate.Length(min=1, max=32),
                           metadata={"description": "mainland numbers may omit +86; null removes it (not for a "
                                                    "leader or a clerk)", "example": "13800138000"})


class UserSchema(Schema):
    user_id = fields.String(required=True)
    username = fields.String(required=True)
    name = fields.String(required=True)
    unit_code = fields.String(required=True)
    roles = fields.List(fields.String())
    mobile = fields.String(allow_none=True, metadata={"description": "E.164"})
    status = fields.String(validate=validate.OneOf(USER_STATUSES))
    must_change_password = fields.Boolean()
    created_by = fields.String(allow_none=True)
    created_at = fields.DateTime()
    approved_at = fields.DateTime(allow_none=True)
    disabled_at = fields.DateTime(allow_none=True)


class LoginSchema(Schema):
    username = fields.String(required=True)
    password = fields.String(required=True, load_only=True)
    challenge_id = fields.String(required=True)
    signature = fields.String(required=True, metadata={"description": "base64 DER ECDSA-P256-SHA256 over the nonce"})


class LoginResultSchema(Schema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)
    must_change_password = fields.Boolean(required=True)


class ProxySchema(Schema):
    principal_user_id = fields.String(required=True)
    proxy_user_id = fields.String(required=True)
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)


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


class ProxyViewSchema(Schema):
    proxy_id = fields.String(required=True)
    principal_user_id = fields.String(required=True)
    proxy_user_id = fields.String(required=True)
    unit_code = fields.String()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    set_by = fields.String()
