"""The content store: bodies and attachments kept once by their sha256, in the exchange's own
database (so every instance sees them, and they are backed up with it)."""
import hashlib

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gongwen_common.filenames import safe_filename

from ..models import Blob
from .errors import NotFound, PayloadTooLarge, ValidationFailed


def sanitise_filename(name, fallback: str) -> str:
    """A sender's file name made safe to show and save on any recipient's system."""
    return safe_filename(name, fallback)


_INSERT = {"postgresql": postgresql_insert, "sqlite": sqlite_insert}


def store(session, data: bytes, now) -> str:
    """Keep ``data`` once by its sha256. Insert-or-nothing in one statement: two sends of the same
    bytes at once both go through (a check, then an insert, would let one fail on the key)."""
    digest = hashlib.sha256(data).hexdigest()
    insert = _INSERT[session.get_bind().dialect.name]
    session.execute(insert(Blob).values(sha256=digest, size=len(data), data=data, created_at=now)
                    .on_conflict_do_nothing(index_elements=["sha256"]))
    return digest


def fetch(session, digest: str) -> bytes:
    """The stored bytes as they are now (a tampered store is caught by the seal check, not here)."""
    blob = session.get(Blob, digest)
    if blob is None:
        raise NotFound(message="the stored content is missing")
    if blob.purged_at is not None:
        left = blob.purged_at.date().isoformat()
        raise NotFound(message=f"the content was archived and left the exchange on {left}; the archival package "
                               "has it (GET /api/v1/documents/{id}/archive)")
    return blob.data


def require_size(data, limit: int, field: str) -> bytes:
    if not isinstance(data, bytes):
        raise ValidationFailed({field: ["expected a file"]})
    if len(data) > limit:
        raise PayloadTooLarge(message=f"{field} exceeds {limit} bytes")
    return data
