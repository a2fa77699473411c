"""Passwords: the policy (003 §14, stricter where a modern policy asks) and argon2id hashing.

Hashes use argon2-cffi's defaults, its RFC 9106 low-memory profile (argon2id, t=3, 64 MiB,
p=4), which is stronger than OWASP's minimum; ``needs_rehash`` upgrades old hashes at login.
Passwords are NFKC-normalised first, so the same password typed with a full-width input
method or composed differently still matches.
"""
import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventlet import patcher, tpool

from .errors import PasswordTooWeak

HASHER = PasswordHasher()

# Decoration people add to a common word to pass composition rules ("Password1!", "woaini1314").
_AFFIXES = re.compile(r"^[\W\d_]+|[\W\d_]+$")


def _offload(fn, *args):
    """argon2 takes ~0.1 s of C code: under eventlet it runs in a real thread (cffi releases the
    GIL) so the service's other greenthreads, heartbeats included, keep running meanwhile."""
    if patcher.is_monkey_patched("thread"):
        return tpool.execute(fn, *args)
    return fn(*args)


def normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    return _offload(HASHER.hash, normalise(password))


def verify_password(password_hash: str, password) -> bool:
    if not isinstance(password, str):
        password = ""  # still spend the hashing time: the answer must not come faster
    try:
        return _offload(HASHER.verify, password_hash, normalise(password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return HASHER.check_needs_rehash(password_hash)


@functools.cache
def dummy_hash() -> str:
    """A hash no password is known for: unknown principals are verified against it, so they
    cost the same time as known ones."""
    return HASHER.hash("gongwen-identity: no such principal")


def verify_unknown(password) -> bool:
    verify_password(dummy_hash(), password)
    return False


@functools.cache
def common_passwords() -> frozenset[str]:
    """Lower-cased common and breached passwords: zxcvbn's ``passwords`` frequency list (30 000
    most frequent of a 10-million-password breach corpus) plus the bundled list of passwords
    that top the Chinese leaks (CSDN, 12306 …), which that corpus under-represents."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    bundled = resources.files("gongwen_identity").joinpath("data/common_passwords_zh.txt").read_text("utf-8")
    extra = (line.strip() for line in bundled.splitlines() if line.strip() and not line.startswith("#"))
    return frozenset(word.lower() for word in (*FREQUENCY_LISTS["passwords"], *extra))


@dataclass(frozen=True)
class PasswordPolicy:
    """At least 8 characters (003 §14 asks 6), mixing letters, digits and symbols (003 §14), not a
    common or breached password even with digits or symbols around it, not containing the
    username; changed every ``max_age`` (000 §15), ``None`` for never."""

    min_length: int = 8
    max_length: int = 128
    max_age: timedelta | None = timedelta(days=180)

    def problem(self, password, username: str | None = None) -> str | None:
        """Why ``password`` is refused, or None."""
        if not isinstance(password, str):
            return "a password is required"
        password = normalise(password)
        lowered = password.lower()
        if len(password) < self.min_length:
            return f"it must be at least {self.min_length} characters long"
        if len(password) > self.max_length:
            return f"it must be at most {self.max_length} characters long"
        if not any(ch.isalpha() for ch in password):
            return "it must contain a letter"
        if not any(ch.isdecimal() for ch in password):
            return "it must contain a digit"
        if not any(not ch.isalnum() and not ch.isspace() for ch in password):
            return "it must contain a symbol (punctuation such as ! # % or @)"
        if username and len(username) >= 3 and username.lower() in lowered:
            return "it must not contain the username"
        common = common_passwords()
        if lowered in common or _AFFIXES.sub("", lowered) in common:
            return "it is a commonly used password (found in breached-password lists)"
        return None

    def check(self, password, username: str | None = None) -> None:
        reason = self.problem(password, username)
        if reason is not None:
            raise PasswordTooWeak(message=f"The password is too weak: {reason}.")

    def expired(self, changed_at, now) -> bool:
        return self.max_age is not None and changed_at is not None and now >= changed_at + self.max_age
