"""Identity's events: accounts, logins (clerks' presence), password changes, revoked tokens and
proxies (代理人)."""
from marshmallow import fields

from ..events import EventData
from .schemas import ProxyViewSchema, UserSchema


class UserCreatedData(EventData):
    user = fields.Nested(UserSchema, required=True)
    created_by = fields.String(allow_none=True, metadata={"description": "None for the bootstrap operator"})


class UserApprovedData(EventData):
    user = fields.Nested(UserSchema, required=True)
    approved_by = fields.String(required=True)


class UserDisabledData(EventData):
    user = fields.Nested(UserSchema, required=True)
    disabled_by = fields.String(required=True)
    reason = fields.String(allow_none=True)


class UserMobileChangedData(EventData):
    user = fields.Nested(UserSchema, required=True, metadata={"description": "the account with its new mobile"})
    changed_by = fields.String(required=True)


class PasswordChangedData(EventData):
    user_id = fields.String(required=True)
    username = fields.String(required=True)
    unit_code = fields.String(required=True)
    changed_by = fields.String(required=True)
    changed_at = fields.DateTime(required=True)
    reset = fields.Boolean(required=True, metadata={"description": "set by an admin as a new initial password"})


class UserLoggedInData(EventData):
    user_id = fields.String(required=True)
    unit_code = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    at = fields.DateTime(required=True)


class LoginRefusedData(EventData):
    user_id = fields.String(allow_none=True, metadata={"description": "None when no such account exists"})
    unit_code = fields.String(allow_none=True)
    code = fields.String(required=True, metadata={"description": "why: INVALID_CREDENTIALS, ACCOUNT_LOCKED, …"})
    at = fields.String(required=True)


class TokenRevokedData(EventData):
    jti = fields.String(required=True)
    expires_at = fields.DateTime(required=True)


class ProxySetData(ProxyViewSchema, EventData):
    """The proxy window as listed (``GET /proxies``)."""


EVENTS = {
    "login_refused": LoginRefusedData,
    "user_mobile_changed": UserMobileChangedData,
    "user_created": UserCreatedData,
    "user_approved": UserApprovedData,
    "user_disabled": UserDisabledData,
    "password_changed": PasswordChangedData,
    "user_logged_in": UserLoggedInData,
    "token_revoked": TokenRevokedData,
    "proxy_set": ProxySetData,
}
