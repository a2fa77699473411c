"""Login: account + password + U_Key (000 §15, §34), in API.md's order of answers.

1. ``CHALLENGE_EXPIRED``  the challenge is past its 120 s, or unknown (never issued, or purged).
2. ``CHALLENGE_USED``     the challenge was already consumed by an earlier attempt, or it was
                          issued for another username: a challenge is bound to one username, so
                          using it for another is a replay. Either way this attempt consumes it.
                          Consuming is one ``UPDATE … WHERE used_at IS NULL``: of two concurrent
                          attempts with one challenge only the one that changed the row goes on.
3. ``DEVICE_SIGNATURE_INVALID``  the signature over the nonce does not verify with the user's
                          active U_Key; an unknown user is verified against a stand-in key, so
                          both answer the same after the same work.
4. ``ACCOUNT_DISABLED``   disabled, or still ``pending`` the operator's approval (the message says
                          which; the code stays one of API.md's six).
5. ``ACCOUNT_LOCKED``     too many wrong passwords lately.
6. ``INVALID_CREDENTIALS`` wrong password; counted towards the lockout (atomically, so parallel
                          attempts each count).

The password is hashed only once the U_Key has signed and the account may log in at all: an
unknown user never gets that far (there is no key to sign with), so unknown and known users
cost the same, no unauthenticated request can make the service spend argon2 time, and a
disabled or locked account answers the same whatever the password, so not even the U_Key's
holder learns whether a guess was right. Failures are counted only then too, so nobody without
the U_Key can lock an account. Every consumed challenge, failure count and audit record must
survive the refusal: the service commits before it raises :class:`AuthenticationFailed`.
"""
import base64
import os
import uuid

from sqlalchemy import update

from gongwen_common.audit import Acting

from ..models import Challenge, User
from . import audit, devices, lockout, passwords, tokens
from .actors import actor_id, is_system
from .errors import (
    AccountDisabled,
    AccountLocked,
    ChallengeExpired,
    ChallengeUsed,
    DeviceSignatureInvalid,
    Forbidden,
    InvalidCredentials,
    PasswordTooWeak,
    ProxyNotAllowed,
    ValidationFailed,
)
from .policies import IdentitySettings
from .users import find_by_username, normalise_username


def issue_challenge(session, username, settings: IdentitySettings, now) -> dict:
    """A single-use nonce for any username, known or not: the answer must not tell them apart."""
    if not isinstance(username, str) or not username.strip() or len(username) > 200:
        raise ValidationFailed({"username": ["required, at most 200 characters"]})
    challenge = Challenge(id=str(uuid.uuid4()), username=normalise_username(username), nonce=os.urandom(32),
                          issued_at=now, expires_at=now + settings.tokens.challenge_ttl)
    session.add(challenge)
    return {"challenge_id": challenge.id, "nonce": base64.b64encode(challenge.nonce).decode(),
            "expires_at": challenge.expires_at.isoformat()}


def _refuse(session, error, user: User | None, now):
    """A refused login is audited and announced (the archive's ledger keeps security refusals); it
    commits with the lockout count, before the refusal is raised."""
    audit.record(session, now, user.id if user else None, "login_refused", "user", user.id if user else None,
                 code=error.code)
    session.emit("login_refused", {"user_id": user.id if user else None, "unit_code": user.unit_code if user else None,
                                   "code": error.code, "at": now.isoformat()}, at=now)
    return error


def user_claims(user: User, must_change_password: bool) -> dict:
    return {"sub": user.id, "username": user.username, "unit": user.unit_code, "roles": user.roles,
            "pwd": must_change_password}


def _consume(session, challenge_id, now) -> Challenge:
    """The challenge, spent by this attempt whatever its outcome; only one attempt may spend it."""
    challenge = session.get(Challenge, challenge_id) if isinstance(challenge_id, str) and len(challenge_id) <= 36 \
        else None
    if challenge is None or now >= challenge.expires_at:
        raise _refuse(session, ChallengeExpired(message="The login challenge has expired; ask for a new one."),
                      None, now)
    spent = session.execute(update(Challenge).where(Challenge.id == challenge.id, Challenge.used_at.is_(None))
                            .values(used_at=now).execution_options(synchronize_session=False))
    if spent.rowcount != 1:
        raise _refuse(session, ChallengeUsed(message="The login challenge was already used; ask for a new one."),
                      None, now)
    return challenge


def login(session, username, password, challenge_id, signature_b64, settings: IdentitySettings, now) -> dict:
    challenge = _consume(session, challenge_id, now)
    if challenge.username != normalise_username(username):
        raise _refuse(session, ChallengeUsed(message="The login challenge was already used; ask for a new one."),
                      None, now)

    user = find_by_username(session, username)
    # The same queries and the same verification for unknown users, against a stand-in key.
    device = devices.active_device(session, user.id if user else "")
    if not devices.signature_valid(device, challenge.nonce, signature_b64):
        raise _refuse(session, DeviceSignatureInvalid(message="The U_Key signature does not verify."), user, now)

    # From here on the U_Key has proved itself: ``user`` exists and holds the device. The
    # account's state comes before the password, which a disabled or locked account never tests.
    if user.status != "active":
        message = ("The account awaits the operator's approval." if user.status == "pending"
                   else "The account is disabled.")
        raise _refuse(session, AccountDisabled(message=message), user, now)
    until = lockout.locked_until(session, user.id, now)
    if until is not None:
        raise _refuse(session, AccountLocked(
            message=f"Too many wrong passwords: the account is locked until {until.isoformat()}."), user, now)
    if not passwords.verify_password(user.password_hash, password):
        lockout.count_failure(session, settings.lockout, user.id, now)
        raise _refuse(session, InvalidCredentials(message="The username or password is wrong."), user, now)

    lockout.clear(session, user.id)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.last_login_at = now
    must_change = user.must_change_password or settings.password.expired(user.password_changed_at, now)
    result = tokens.issue(session, user_claims(user, must_change), settings.tokens.access_ttl, settings.kek, now)
    audit.record(session, now, user.id, "login_succeeded", "user", user.id, must_change_password=must_change)
    # Clerks' presence counts logins too (001 §18): the exchange keeps it.
    session.emit("user_logged_in", {"user_id": user.id, "unit_code": user.unit_code, "roles": user.roles,
                                    "at": now.isoformat()}, at=now)
    return result


def change_password(session, user_id, old_password, new_password, settings: IdentitySettings, now,
                    actor=None) -> None:
    """The holder changes their own password (first login, expiry, at will), in person: ``actor``
    (the caller as the gateway vouches for it) must not be a proxy. A wrong old password counts
    towards the lockout like a wrong login; every session ends, so the new password (and the
    lifted ``pwd`` claim) takes effect with the next login. A department system has none: its
    credentials are its unit admin's to issue and revoke."""
    if is_system(user_id) or is_system(actor_id(actor)):
        raise Forbidden(message="A department system has no password: its unit's admin issues and revokes its "
                                "client credentials.")
    if Acting.of(actor).by_proxy:
        raise ProxyNotAllowed(message="A proxy may not change the principal's password.")
    user = session.get(User, user_id) if isinstance(user_id, str) else None
    if user is None:
        passwords.verify_unknown(old_password)
        raise InvalidCredentials(message="The username or password is wrong.")
    if user.status != "active":
        raise AccountDisabled(message="The account is not active.")
    until = lockout.locked_until(session, user.id, now)
    if until is not None:
        # No answer about the old password while locked: this path must not become a guessing oracle.
        raise AccountLocked(message=f"The account is locked until {until.isoformat()}.")
    if not passwords.verify_password(user.password_hash, old_password):
        lockout.count_failure(session, settings.lockout, user.id, now)
        audit.record(session, now, user.id, "password_change_refused", "user", user.id, code="INVALID_CREDENTIALS")
        raise InvalidCredentials(message="The current password is wrong.")
    if isinstance(new_password, str) and passwords.normalise(new_password) == passwords.normalise(old_password):
        raise PasswordTooWeak(message="The password is too weak: it must differ from the current one.")
    settings.password.check(new_password, user.username)
    lockout.clear(session, user.id)
    user.password_hash = passwords.hash_password(new_password)
    user.must_change_password, user.password_changed_at = False, now
    tokens.revoke_sessions(session, user.id, "password_changed", now)
    audit.record(session, now, user.id, "password_changed", "user", user.id)
    session.emit("password_changed", {"user_id": user.id, "username": user.username, "unit_code": user.unit_code,
                                      "changed_by": user.id, "changed_at": now.isoformat(), "reset": False}, at=now)
