"""Typed domain errors that survive an RPC hop and map to one HTTP status and a stable code.

Services raise subclasses (``UnitNotFound``, ``SealInvalid`` …). At the RPC boundary every
subclass is flattened into the base :class:`DomainError`, which is registered with nameko's
exception registry, so the caller gets a ``DomainError`` with the same code, message, status
and field errors back instead of an opaque ``RemoteError``.
"""
from marshmallow import ValidationError
from nameko.exceptions import deserialize_to_instance


@deserialize_to_instance
class DomainError(Exception):
    code = "DOMAIN_ERROR"
    status = 422

    def __init__(self, code=None, message=None, status=None, fields=None):
        self.code = code or type(self).code
        self.message = message or self.code
        self.status = int(status or type(self).status)
        self.fields = _field_errors(fields)
        # nameko rebuilds the exception from ``args``, each one passed through ``str`` unless it is
        # a string, dict or list: no fields travel as {} (None would arrive as the string "None").
        super().__init__(self.code, self.message, self.status, self.fields or {})

    def __str__(self):
        return f"{self.code}: {self.message}"

    def flatten(self):
        """The registered base-class form that crosses RPC unchanged."""
        return DomainError(self.code, self.message, self.status, self.fields)


def _field_errors(fields) -> dict | None:
    """Field errors are an object (``{field: [messages]}``) or absent; a bare list of messages
    belongs to the whole request (``_schema``, as marshmallow names it)."""
    if isinstance(fields, dict):
        return fields or None
    if isinstance(fields, list | tuple) and fields:
        return {"_schema": [str(f) for f in fields]}
    return None  # None, or "None" from a peer still on the old wire form


class ValidationFailed(DomainError):
    code, status = "VALIDATION_ERROR", 400

    def __init__(self, fields, message="The request has invalid fields."):
        super().__init__(message=message, fields=fields)


def validated(schema, data, under: str | None = None):
    """``schema.load(data)``, or ``VALIDATION_ERROR`` with marshmallow's field messages (nested
    under ``under`` when the data is one part of a larger request)."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        messages = exc.normalized_messages()
        raise ValidationFailed({under: messages} if under else messages) from None


class Unauthenticated(DomainError):
    code, status = "UNAUTHENTICATED", 401


class Forbidden(DomainError):
    code, status = "FORBIDDEN", 403


class PasswordChangeRequired(DomainError):
    """API.md: every call but changing it answers this until the initial password is changed."""

    code, status = "PASSWORD_CHANGE_REQUIRED", 403


class ProxyNotAllowed(DomainError):
    """A proxy (代理人) acting outside their window, or doing what only the principal may do."""

    code, status = "PROXY_NOT_ALLOWED", 403


class NotFound(DomainError):
    code, status = "NOT_FOUND", 404


class Conflict(DomainError):
    code, status = "CONFLICT", 409


class UnknownUnit(DomainError):
    """A unit named in the request is not (or no longer) an active unit of the directory."""

    code, status = "UNKNOWN_UNIT", 422


class InvalidPhoneNumber(DomainError):
    """A text the numbering plan (phonenumbers) does not know as a mobile: no pattern can say it, so the
    request was well formed and a rule refuses it (422, as API.md reads a domain code)."""

    code, status = "INVALID_PHONE_NUMBER", 422


class PayloadTooLarge(DomainError):
    code, status = "PAYLOAD_TOO_LARGE", 413


class MobileRequired(DomainError):
    """A leader, deputy leader or clerk keeps a mobile number (000 §11): identity refuses an account
    without one, the registry contacts without one while SMS is on."""

    code, status = "MOBILE_REQUIRED", 422


class TwilioSignatureInvalid(DomainError):
    """A status callback not signed by Twilio with our auth token for this very URL and body (the
    gateway checks it, and notify again where the message is)."""

    code, status = "TWILIO_SIGNATURE_INVALID", 403


class ServiceUnavailable(DomainError):
    code, status = "SERVICE_UNAVAILABLE", 503
