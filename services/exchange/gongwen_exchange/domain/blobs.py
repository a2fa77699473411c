"""The content store: bodies and attachments kept once by their sha256, in the exchange's own
database (so every instance sees them, and they are backed up with it)."""
import hashlib

from gongwen_common.filenames import safe_filename

from ..models import Blob
from .errors import NotFound, PayloadTooLarge, ValidationFailed


def sanitise_filename(name, fallback: str) -> str:
    """A sender's file name made safe to show and save on any recipient's system."""
    return safe_filename(name, fallback)


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
