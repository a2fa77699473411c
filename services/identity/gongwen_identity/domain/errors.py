"""Identity's domain errors: stable ``code`` and HTTP ``status`` (API.md), human ``message``."""
from gongwen_common.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidPhoneNumber,
    MobileRequired,
    NotFound,
    PasswordChangeRequired,
    ProxyNotAllowed,
    Unauthenticated,
    UnknownUnit,
    ValidationFailed,
)

__all__ = ["Conflict", "DomainError", "Forbidden", "InvalidPhoneNumber", "MobileRequired", "NotFound",
           "PasswordChangeRequired", "ProxyNotAllowed", "Unauthenticated", "UnknownUnit", "ValidationFailed"]


class InvalidDeviceKey(DomainError):
    code, status = "INVALID_DEVICE_KEY", 422


class DeviceKeyInUse(Conflict):
    code = "DEVICE_KEY_IN_USE"


class PasswordTooWeak(DomainError):
    code, status = "PASSWORD_TOO_WEAK", 400


class UsernameTaken(Conflict):
    code = "USERNAME_TAKEN"


class InvalidUserState(Conflict):
    code = "INVALID_USER_STATE"


class AlreadyBootstrapped(Conflict):
    code = "ALREADY_BOOTSTRAPPED"


class InvalidProxy(DomainError):
    code, status = "INVALID_PROXY", 422


class AuthenticationFailed(DomainError):
    """A refused login or password check. Its side effects (the consumed challenge, the failure
    count, the audit record) must survive the refusal: the service commits before raising it."""

    code, status = "AUTHENTICATION_FAILED", 401


class ChallengeExpired(AuthenticationFailed):
    code = "CHALLENGE_EXPIRED"


class ChallengeUsed(AuthenticationFailed):
    code = "CHALLENGE_USED"


class DeviceSignatureInvalid(AuthenticationFailed):
    code = "DEVICE_SIGNATURE_INVALID"


class InvalidCredentials(AuthenticationFailed):
    code = "INVALID_CREDENTIALS"


class AccountLocked(AuthenticationFailed):
    code = "ACCOUNT_LOCKED"


class AccountDisabled(AuthenticationFailed):
    code = "ACCOUNT_DISABLED"


class SigningKeyUnavailable(RuntimeError):
    """Configuration fault, not a client error: the KEK cannot open the stored signing key."""

