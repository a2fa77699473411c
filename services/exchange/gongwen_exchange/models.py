"""Exchange tables: documents (公文) with their sealed manifest, content-addressed blobs, one
receipt per recipient unit and delivery, print and resend requests, the working calendar the
operator loads, clerk presence, and the audit trail. ``migrations/versions`` creates the same
schema; ``tests/test_service_migrations.py`` keeps the two in step."""
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from gongwen_common.audit import AuditRecordColumns
from gongwen_common.tables import UtcDateTime
from gongwen_contracts.registry.replica import UnitViewColumns

ACTOR = String(80)


class Base(DeclarativeBase):
    pass


class UnitView(UnitViewColumns, Base):
    """This service's own copy of the unit directory, fed by registry events."""


class Blob(Base):
    """A body or attachment, stored once by its sha256 (content-addressed)."""

    __tablename__ = "blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)  # empty once purged
    created_at = mapped_column(UtcDateTime, nullable=False)
    # Dropped after every document holding it was archived and the exchange's retention passed.
    purged_at = mapped_column(UtcDateTime, nullable=True)


class Document(Base):
    """A sent document: its metadata, the sealed manifest and signature, and who sent it when."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("issuer_code", "doc_year", "doc_number"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    issuer_code: Mapped[str] = mapped_column(String(64), index=True)
    doc_number: Mapped[str] = mapped_column(String(100))
    doc_year: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(500))
    signer: Mapped[str] = mapped_column(String(100))
    urgency: Mapped[str] = mapped_column(String(16))
    metadata_json: Mapped[dict] = mapped_column(JSON)
    manifest: Mapped[bytes] = mapped_column(LargeBinary)
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    # Empty while a seal under two-person custody awaits its custodians' approvals of the manifest.
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    seal_serial: Mapped[str | None] = mapped_column(String(32))
    body_name: Mapped[str] = mapped_column(String(255))
    body_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    status: Mapped[str] = mapped_column(String(16))  # awaiting_seal | sent | recalled | completed
    sent_at = mapped_column(UtcDateTime, nullable=False, index=True)
    sent_by: Mapped[str] = mapped_column(ACTOR)
    sent_by_proxy: Mapped[str | None] = mapped_column(ACTOR)
    recalled_at = mapped_column(UtcDateTime)
    recalled_by: Mapped[str | None] = mapped_column(ACTOR)
    completed_at = mapped_column(UtcDateTime)
    archived_at = mapped_column(UtcDateTime)  # the archive took in its package (归档)

    attachments = relationship("Attachment", order_by="Attachment.position", lazy="selectin")


class Attachment(Base):
    __tablename__ = "attachments"
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    size: Mapped[int] = mapped_column(Integer)


class Receipt(Base):
    """One recipient unit's copy of a document (per delivery): its state and the time and actor
    of each step. A resend makes a new generation linked to the one it replaces."""

    __tablename__ = "receipts"
    __table_args__ = (UniqueConstraint("document_id", "unit_code", "generation"),
                      Index("ix_receipts_open_due", "state", "due_at"))
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), index=True)
    unit_code: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(8))  # main | cc
    generation: Mapped[int] = mapped_column(Integer)
    latest: Mapped[bool] = mapped_column(Boolean)
    resent_from: Mapped[str | None] = mapped_column(String(36))
    state: Mapped[str] = mapped_column(String(16))
    delivered_at = mapped_column(UtcDateTime, nullable=False)
    due_at = mapped_column(UtcDateTime, nullable=False)
    overdue_at = mapped_column(UtcDateTime)
    first_read_at = mapped_column(UtcDateTime)
    first_read_by: Mapped[str | None] = mapped_column(ACTOR)
    signed_at = mapped_column(UtcDateTime)
    signed_by: Mapped[str | None] = mapped_column(ACTOR)
    signed_by_proxy: Mapped[str | None] = mapped_column(ACTOR)
    registered_at = mapped_column(UtcDateTime)
    registered_by: Mapped[str | None] = mapped_column(ACTOR)
    registered_by_proxy: Mapped[str | None] = mapped_column(ACTOR)
    registration_number: Mapped[str | None] = mapped_column(String(100))
    returned_at = mapped_column(UtcDateTime)
    returned_by: Mapped[str | None] = mapped_column(ACTOR)
    returned_by_proxy: Mapped[str | None] = mapped_column(ACTOR)
    return_reason: Mapped[str | None] = mapped_column(String(500))
    recalled_at = mapped_column(UtcDateTime)
    paper_served_at = mapped_column(UtcDateTime)
    paper_served_by: Mapped[str | None] = mapped_column(ACTOR)
    paper_note: Mapped[str | None] = mapped_column(String(500))
    print_copies_granted: Mapped[int] = mapped_column(Integer)
    print_copies_used: Mapped[int] = mapped_column(Integer)
    # Closed without being handled, when its unit was revoked: "kept" or "archived" as the revoking
    # decision said, or "transferred" to the successor unit (a new receipt). No longer due.
    closed_at = mapped_column(UtcDateTime)
    closed_reason: Mapped[str | None] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}



# A unit's inbox in its own order (newest first, then id): a walk down this index to the page's end
# instead of a sort of every receipt the unit ever had, on every poll.
Index("ix_receipts_inbox", Receipt.unit_code, Receipt.delivered_at.desc(), Receipt.id)


class PrintRequest(Base):
    """A recipient asks the sender for more print copies (003 §42); the sender grants or refuses."""

    __tablename__ = "print_requests"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    receipt_id: Mapped[str] = mapped_column(ForeignKey("receipts.id"), index=True)
    copies: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(16))  # pending | granted | refused
    requested_at = mapped_column(UtcDateTime, nullable=False)
    requested_by: Mapped[str] = mapped_column(ACTOR)
    answered_at = mapped_column(UtcDateTime)
    answered_by: Mapped[str | None] = mapped_column(ACTOR)


class ResendRequest(Base):
    """A recipient whose receipt failed asks the sender to send again (003 §42)."""

    __tablename__ = "resend_requests"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    receipt_id: Mapped[str] = mapped_column(ForeignKey("receipts.id"), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    requested_at = mapped_column(UtcDateTime, nullable=False)
    requested_by: Mapped[str] = mapped_column(ACTOR)
    answered_at = mapped_column(UtcDateTime)


class CalendarDay(Base):
    """The operator's loaded official schedule (国务院办公厅 holiday notice): overrides the library."""

    __tablename__ = "calendar_days"
    day = mapped_column(Date, primary_key=True)
    working: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(String(200))


class CalendarYear(Base):
    """A year whose complete official schedule the operator loaded."""

    __tablename__ = "calendar_years"
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    loaded_by: Mapped[str] = mapped_column(ACTOR)
    loaded_at = mapped_column(UtcDateTime, nullable=False)


class Presence(Base):
    """A clerk was seen online (an inbox poll or a login), for supervision of the duty windows (001 §18)."""

    __tablename__ = "presence"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ACTOR, index=True)
    unit_code: Mapped[str] = mapped_column(String(64), index=True)
    seen_at = mapped_column(UtcDateTime, nullable=False, index=True)
    via: Mapped[str] = mapped_column(String(16))


class AuditRecord(AuditRecordColumns, Base):
    """Every change to documents and receipts, with who made it (and the proxy acting) and when."""


class CanaryState(Base):
    """The canary's schedule and its last round trip (one row per canary, ``name`` "canary"): the
    instance that claims the due row runs the round, so N instances run it once."""

    __tablename__ = "canary_state"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    since = mapped_column(UtcDateTime, nullable=False)
    due_at = mapped_column(UtcDateTime, nullable=False)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until = mapped_column(UtcDateTime)
    started_at = mapped_column(UtcDateTime)
    completed_at = mapped_column(UtcDateTime)
    round_trip_seconds: Mapped[float | None] = mapped_column(Float)
    document_id: Mapped[str | None] = mapped_column(String(36))
    outcome: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    failed_at = mapped_column(UtcDateTime)
