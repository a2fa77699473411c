"""Key-encryption key (KEK) and envelope encryption for secrets kept in a service's database.

A service configures one KEK (base64 of 32 bytes, e.g. ``SEAL_KEK``). Each secret gets its own
random 256-bit data key; the data key is stored only encrypted under the KEK and the secret only
encrypted under its data key, both with AES-256-GCM and the same associated data (typically the
row's identity), so a ciphertext cannot be moved to another row.

Destroying a secret means deleting its wrapped data key and ciphertext (crypto-shredding): with
the data key gone the ciphertext cannot be opened, even from a backup that still holds it once
the wrapped key is purged. Python cannot guarantee that plaintext or key bytes are wiped from
process memory; keep their lifetime short and never log them.

A KEK is required: without one a service refuses to work (:class:`KeyUnavailable` naming the
setting). Only with ``GONGWEN_DEVELOPMENT_KEYS=1`` (environment or config) is a fixed
development key derived instead, with a warning: anyone with this source can open what it
protects, so it is for a developer's throw-away database only.
"""
import base64
import binascii
import hashlib
import logging
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

log = logging.getLogger(__name__)

KEY_BYTES = 32
NONCE_BYTES = 12
# The development key is derived from public constants on purpose: it only keeps a dev database
# from holding plaintext; anyone with this source can open it.
_DEVELOPMENT_KEY_MATERIAL = b"not a secret: development only"
DEVELOPMENT_FLAG = "GONGWEN_DEVELOPMENT_KEYS"
_warned_purposes: set[str] = set()


def development_keys_allowed(value=None) -> bool:
    """Whether the development key may stand in for an unset KEK: ``value`` as configured (a
    service's config), else the environment's ``GONGWEN_DEVELOPMENT_KEYS``; "1", "true", "yes"."""
    if value is None or value == "":
        value = os.environ.get(DEVELOPMENT_FLAG, "")
    return str(value).strip().lower() in ("1", "true", "yes")


class KeyUnavailable(Exception):
    """Configuration fault: the KEK is invalid, or it cannot open what is stored."""


def _seal(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def _open(key: bytes, blob: bytes, associated_data: bytes) -> bytes:
    # Shorter than nonce + GCM tag cannot be ours; AESGCM would raise a different error for it.
    if len(blob) < NONCE_BYTES + 16:
        raise InvalidTag
    return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated_data)


class KeyEncryptionKey:
    """A 256-bit AES-GCM key-encryption key (密钥加密密钥). ``kek_id`` names it without revealing it."""

    __slots__ = ("_key", "kek_id")

    def __init__(self, key: bytes):
        if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
            raise KeyUnavailable(f"a key-encryption key must be exactly {KEY_BYTES} bytes")
        self._key = bytes(key)
        self.kek_id = self.key_id(b"gongwen kek id|")

    @classmethod
    def from_config(cls, value: str | None, *, setting: str, purpose: str,
                    development=None) -> "KeyEncryptionKey":
        """The KEK from a config value (base64 of 32 bytes) named ``setting``. Unset, it is a
        configuration fault unless development keys are allowed (``development``, else the
        environment: :func:`development_keys_allowed`); then a fixed development key."""
        # Secrets mounted from files usually end with a newline; that is not a different key.
        value = (value or "").strip()
        if value:
            try:
                key = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise KeyUnavailable(f"{setting} is not valid base64") from None
            if len(key) != KEY_BYTES:
                raise KeyUnavailable(f"{setting} must be base64 of exactly {KEY_BYTES} bytes")
            return cls(key)
        if not development_keys_allowed(development):
            raise KeyUnavailable(
                f"{setting} is not set: it is the key-encryption key of the {purpose}. Set {setting} to base64 of "
                f"32 random bytes (e.g. `openssl rand -base64 32`); only for a throw-away development database, "
                f"{DEVELOPMENT_FLAG}=1 uses a fixed key anyone with the source can derive.")
        if purpose not in _warned_purposes:
            _warned_purposes.add(purpose)
            log.warning("%s is not set and %s is on: %s are encrypted under a fixed development key. Not for "
                        "production: set %s to base64 of 32 random bytes.", setting, DEVELOPMENT_FLAG, purpose,
                        setting)
        key = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                   info=f"gongwen {purpose} development KEK".encode()).derive(_DEVELOPMENT_KEY_MATERIAL)
        return cls(key)

    def key_id(self, label: bytes) -> str:
        """A name of this key under ``label`` (a hash: it reveals nothing of the key). ``kek_id`` is
        the one under ``b"gongwen kek id|"``; a store with ids of its own may keep its label."""
        return hashlib.sha256(label + self._key).hexdigest()[:16]

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        """AES-256-GCM; the random 12-byte nonce is prepended to the ciphertext."""
        return _seal(self._key, plaintext, associated_data)

    def decrypt(self, blob: bytes, associated_data: bytes) -> bytes:
        try:
            return _open(self._key, blob, associated_data)
        except InvalidTag:
            raise KeyUnavailable(f"KEK {self.kek_id} cannot open this ciphertext: another key, other "
                                 "associated data, or tampered") from None

    def __repr__(self) -> str:
        return f"KeyEncryptionKey(kek_id={self.kek_id!r})"

    __str__ = __repr__

    def __reduce__(self):
        # Pickling would write the key bytes wherever the pickle goes (a cache, a queue, a log).
        raise TypeError("a KeyEncryptionKey cannot be pickled")


@dataclass(frozen=True)
class WrappedSecret:
    """A secret under envelope encryption: which KEK, its data key under that KEK, the secret under the data key."""

    kek_id: str
    wrapped_data_key: bytes
    ciphertext: bytes


def wrap_secret(kek: KeyEncryptionKey, plaintext: bytes, associated_data: bytes) -> WrappedSecret:
    """Encrypt ``plaintext`` under a fresh random data key, itself encrypted under ``kek``."""
    data_key = os.urandom(KEY_BYTES)
    return WrappedSecret(kek_id=kek.kek_id, wrapped_data_key=kek.encrypt(data_key, associated_data),
                         ciphertext=_seal(data_key, plaintext, associated_data))


def unwrap_secret(kek: KeyEncryptionKey, wrapped: WrappedSecret, associated_data: bytes) -> bytes:
    """The plaintext of ``wrapped``; :class:`KeyUnavailable` if another KEK wrapped it or anything was altered."""
    if wrapped.kek_id != kek.kek_id:
        raise KeyUnavailable(f"this secret was wrapped under KEK {wrapped.kek_id}, not the configured {kek.kek_id}")
    data_key = kek.decrypt(wrapped.wrapped_data_key, associated_data)
    try:
        return _open(data_key, wrapped.ciphertext, associated_data)
    except InvalidTag:
        raise KeyUnavailable(f"the secret wrapped under KEK {kek.kek_id} does not open: ciphertext or "
                             "associated data altered") from None


def _pkcs8(private_key) -> bytes:
    return private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())


def store_key(row, private_key, kek: KeyEncryptionKey, associated_data: bytes) -> None:
    """Put ``private_key`` in ``row``'s :class:`~gongwen_common.tables.WrappedKeyColumns`, wrapped."""
    wrapped = wrap_secret(kek, _pkcs8(private_key), associated_data)
    row.kek_id, row.wrapped_data_key, row.key_ciphertext = wrapped.kek_id, wrapped.wrapped_data_key, wrapped.ciphertext


def load_key(row, kek: KeyEncryptionKey, associated_data: bytes):
    if row.key_ciphertext is None:
        raise KeyUnavailable("this key was destroyed")
    plain = unwrap_secret(kek, WrappedSecret(row.kek_id, row.wrapped_data_key, row.key_ciphertext), associated_data)
    return serialization.load_der_private_key(plain, password=None)


def rewrap_key(row, old: KeyEncryptionKey, new: KeyEncryptionKey, associated_data: bytes) -> bool:
    """KEK rotation: ``row``'s data key, unwrapped under ``old``, is wrapped again under ``new``; the
    key's own ciphertext is untouched. False when there is nothing to do (already under ``new``, or
    shredded), so a rotation that stopped halfway is simply run again."""
    if row.kek_id is None or row.kek_id == new.kek_id:
        return False
    if row.kek_id != old.kek_id:
        raise KeyUnavailable(f"a key is wrapped under KEK {row.kek_id}, neither the old {old.kek_id} nor the new "
                             f"{new.kek_id}")
    data_key = old.decrypt(row.wrapped_data_key, associated_data)
    try:  # the pair must open before the old wrap is given up
        _open(data_key, row.key_ciphertext, associated_data)
    except InvalidTag:
        raise KeyUnavailable(f"a key wrapped under KEK {old.kek_id} does not open: ciphertext or associated "
                             "data altered") from None
    row.wrapped_data_key, row.kek_id = new.encrypt(data_key, associated_data), new.kek_id
    return True


def shred_key(row) -> None:
    """Crypto-shredding: with the wrapped data key gone the ciphertext can never be opened."""
    row.kek_id = row.wrapped_data_key = row.key_ciphertext = None
