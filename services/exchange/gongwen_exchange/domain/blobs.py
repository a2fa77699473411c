"""The content store: bodies and attachments kept once by their sha256, in the exchange's own
database (so every instance sees them, and they are backed up with it)."""
import hashlib
import re
import unicodedata

from ..models import Blob
from .errors import NotFound, PayloadTooLarge, ValidationFailed

_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
MAX_NAME = 120


def sanitise_filename(name, fallback: str) -> str:
    """A file name safe to show and to save on any recipient's system: no path, no control or
    reserved characters, no leading dots, at most 120 characters; Chinese kept as it is."""
    if not isinstance(name, str):
        return fallback
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip(" .")
    if len(name) > MAX_NAME:
        stem, dot, suffix = name.rpartition(".")
        name = (stem[:MAX_NAME - len(suffix) - 1] + dot + suffix) if dot and len(suffix) <= 10 else name[:MAX_NAME]
    return name or fallback


def store(session, data: bytes, now) -> str:
    digest = hashlib.sha256(data).hexdigest()
    if session.get(Blob, digest) is None:
        session.add(Blob(sha256=digest, size=len(data), data=data, created_at=now))
        session.flush()
    return digest


def fetch(session, digest: str) -> bytes:
    """The stored bytes as they are now (a tampered store is caught by the seal check, not here)."""
    blob = session.get(Blob, digest)
    if blob is None:
        raise NotFound(message="the stored content is missing")
    return blob.data


def require_size(data, limit: int, field: str) -> bytes:
    if not isinstance(data, bytes):
        raise ValidationFailed({field: ["expected a file"]})
    if len(data) > limit:
        raise PayloadTooLarge(message=f"{field} exceeds {limit} bytes")
    return data
