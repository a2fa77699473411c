"""Identity policies as values: defaults follow the strictest seed or API.md, config may tighten.

Config keys: ``IDENTITY_KEK`` (required: base64 of 32 bytes, the key-encryption key of the
token signing key; unset, no token is signed unless ``GONGWEN_DEVELOPMENT_KEYS=1``, see
``gongwen_common.keywrap``); optional ``IDENTITY_LOCKOUT_MAX_FAILURES`` (5),
``IDENTITY_LOCKOUT_MINUTES`` (15), ``IDENTITY_PASSWORD_MAX_AGE_DAYS`` (180; 0 turns periodic
change off).
"""
from dataclasses import dataclass, field
from datetime import timedelta

from .passwords import PasswordPolicy


@dataclass(frozen=True)
class LockoutPolicy:
    """Consecutive wrong passwords lock the account for a while (after the U_Key proved itself).

    A lock ends by time or by an admin's unlock / password reset. While it lasts no password is
    tried at all, and nothing extends it, so a thief holding the U_Key can neither test guesses
    nor keep the owner out for ever; once a lock has run out, counting starts afresh.
    """

    max_failures: int = 5
    lock_for: timedelta = timedelta(minutes=15)
    # Applied by ``lockout``, one atomic UPDATE per change, so parallel attempts each count.


@dataclass(frozen=True)
class TokenPolicy:
    access_ttl: timedelta = timedelta(minutes=15)
    # API.md: a nonce lives at most 120 s.
    challenge_ttl: timedelta = timedelta(seconds=120)


@dataclass(frozen=True)
class IdentitySettings:
    password: PasswordPolicy = field(default_factory=PasswordPolicy)
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    tokens: TokenPolicy = field(default_factory=TokenPolicy)
    kek: str | None = None  # as configured; ``tokens.key_encryption_key`` decodes it

    @classmethod
    def from_config(cls, config) -> "IdentitySettings":
        def number(key, default):
            value = config.get(key)
            return default if value in (None, "") else int(value)

        max_age_days = number("IDENTITY_PASSWORD_MAX_AGE_DAYS", 180)
        return cls(
            password=PasswordPolicy(max_age=timedelta(days=max_age_days) if max_age_days > 0 else None),
            lockout=LockoutPolicy(max_failures=number("IDENTITY_LOCKOUT_MAX_FAILURES", 5),
                                  lock_for=timedelta(minutes=number("IDENTITY_LOCKOUT_MINUTES", 15))),
            kek=config.get("IDENTITY_KEK") or None,
        )
