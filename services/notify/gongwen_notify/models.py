"""Notify tables: the unit directory copy, the messages (SMS and voice calls) it sends, and what
decides them: the people it may reach, the documents it follows, policies, templates, the
escalation steps still to fire and each notification (the proof of who was told, 001 §21).
``migrations/versions`` creates the same schema; ``tests/test_service_migrations.py`` keeps the two
in step."""
from sqlalchemy import JSON, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gongwen_common.audit import AuditRecordColumns
from gongwen_common.tables import UtcDateTime
from gongwen_contracts.registry.replica import UnitViewColumns

MESSAGE_STATUSES = ("queued", "sending", "sent", "delivered", "undelivered", "failed")
CHANNELS = ("sms", "voice")


class Base(DeclarativeBase):
    pass


class UnitView(UnitViewColumns, Base):
    """This service's own copy of the unit directory, fed by registry events."""


class AuditRecord(AuditRecordColumns, Base):
    """Who changed a policy or a template, and how (``domain.changes``)."""


class Message(Base):
    """One SMS or voice call we intend to make, recorded before any call to Twilio so that a retry
    after an ambiguous failure looks the message up instead of sending it twice.

    ``reference`` is the short code carried in the text (and our id in the status callback URL);
    ``unit_code`` is the unit that pays for it (000 §11: each unit pays its own SMS)."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_due", "status", "next_attempt_at"),
                      Index("ix_messages_unit_created", "unit_code", "created_at"))
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    channel: Mapped[str] = mapped_column(String(8))
    to: Mapped[str] = mapped_column(String(20), index=True)
    body: Mapped[str] = mapped_column(Text)
    unit_code: Mapped[str] = mapped_column(String(64), index=True)
    document_id: Mapped[str | None] = mapped_column(String(36), index=True)
    user_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at = mapped_column(UtcDateTime, nullable=True)
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    error_code: Mapped[str | None] = mapped_column(String(16))
    segments: Mapped[int | None] = mapped_column(Integer)
    price: Mapped[str | None] = mapped_column(String(16))
    price_unit: Mapped[str | None] = mapped_column(String(8))
    created_at = mapped_column(UtcDateTime, nullable=False)
    sent_at = mapped_column(UtcDateTime, nullable=True)
    delivered_at = mapped_column(UtcDateTime, nullable=True)
    status_at = mapped_column(UtcDateTime, nullable=True)
    # Delivery's claim on the row while it talks to Twilio (``gongwen_common.claims``), and whether an
    # attempt may have reached Twilio without our knowing (set before each call, cleared by a clear
    # answer): such a message is looked up at Twilio before it is ever sent again.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until = mapped_column(UtcDateTime, nullable=True)
    ambiguous: Mapped[bool] = mapped_column(Boolean, default=False)
    error_message: Mapped[str | None] = mapped_column(Text)


# -- escalation: who may be reached, what is followed, what is due ------------------------------

ACTOR_ID = String(64)
STEP_STATUSES = ("pending", "fired", "cancelled")
NOTIFICATION_STATUSES = ("pending", "skipped", "queued", "cancelled")  # then the message's status


class Person(Base):
    """A person notify may reach, as identity's user events describe them. The mobile is the one
    of the real-name account (one source); ``updated_at`` is when identity made the state held."""

    __tablename__ = "people"
    user_id: Mapped[str] = mapped_column(ACTOR_ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    unit_code: Mapped[str] = mapped_column(String(64), index=True)
    roles: Mapped[list] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    mobile: Mapped[str | None] = mapped_column(String(20))
    updated_at = mapped_column(UtcDateTime, nullable=False)


class UnitContacts(Base):
    """A unit's filed contacts (备案) and whether it has SMS (000 §11), from the registry's
    ``contacts_changed``; ``version`` is the registry's, so a late older filing is ignored."""

    __tablename__ = "unit_contacts"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    admin_user_id: Mapped[str | None] = mapped_column(ACTOR_ID)
    clerk_user_ids: Mapped[list] = mapped_column(JSON)
    leader_user_id: Mapped[str | None] = mapped_column(ACTOR_ID)
    deputy_leader_user_id: Mapped[str | None] = mapped_column(ACTOR_ID)
    sms_enabled: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)
    updated_at = mapped_column(UtcDateTime, nullable=False)


class PolicyRecord(Base):
    """An escalation policy as data: the operator's default for an urgency (``unit_code`` "")
    or a unit admin's tighter one for its own unit. Absent: the default shipped in config."""

    __tablename__ = "notify_policies"
    unit_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    urgency: Mapped[str] = mapped_column(String(16), primary_key=True)
    policy: Mapped[dict] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(ACTOR_ID)
    updated_at = mapped_column(UtcDateTime, nullable=False)


class TemplateRecord(Base):
    """A text template as the operator last set it; only an approved one is sent (carriers
    require approved templates). Absent: the one shipped in config, approved."""

    __tablename__ = "notify_templates"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    approved: Mapped[bool] = mapped_column(Boolean)
    updated_by: Mapped[str] = mapped_column(ACTOR_ID)
    updated_at = mapped_column(UtcDateTime, nullable=False)


class TrackedDocument(Base):
    """A sent document as ``document_sent`` told it: who sent it (for the texts and for who may
    see its notifications) and whether it still calls for reminders."""

    __tablename__ = "tracked_documents"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    issuer_code: Mapped[str] = mapped_column(String(64), index=True)
    doc_number: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(Text)
    urgency: Mapped[str] = mapped_column(String(16))
    sent_at = mapped_column(UtcDateTime, nullable=False)
    closed_at = mapped_column(UtcDateTime, nullable=True)
    closed_reason: Mapped[str | None] = mapped_column(String(32))
    # The short link's code (a text's link is the base URL and this, not the 36-character id).
    link_code: Mapped[str | None] = mapped_column(String(12), unique=True)


class TrackedReceipt(Base):
    """One recipient's receipt of a tracked document; closed (signed, returned, served on paper,
    recalled, completed) ends its escalation."""

    __tablename__ = "tracked_receipts"
    receipt_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    document_id: Mapped[str] = mapped_column(String(36), index=True)
    unit_code: Mapped[str] = mapped_column(String(64), index=True)
    due_at = mapped_column(UtcDateTime, nullable=False)
    closed_at = mapped_column(UtcDateTime, nullable=True)
    closed_reason: Mapped[str | None] = mapped_column(String(32))


class EscalationStep(Base):
    """One occurrence of a policy step for one receipt, due at ``fire_at``. A timer claims due
    rows (``FOR UPDATE SKIP LOCKED``, with a lease like the outbox relay's) and fires each once."""

    __tablename__ = "escalation_steps"
    __table_args__ = (UniqueConstraint("receipt_id", "step", "occurrence", name="uq_escalation_steps_occurrence"),
                      Index("ix_escalation_steps_due", "status", "fire_at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(String(36), index=True)
    receipt_id: Mapped[str] = mapped_column(String(36), index=True)
    unit_code: Mapped[str] = mapped_column(String(64))
    step: Mapped[int] = mapped_column(Integer)  # 1-based position in the policy
    occurrence: Mapped[int] = mapped_column(Integer)  # 0, then each repeat
    audience: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(8))
    template: Mapped[str] = mapped_column(String(64))
    urgent: Mapped[bool] = mapped_column(Boolean)
    fire_at = mapped_column(UtcDateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(16))
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until = mapped_column(UtcDateTime, nullable=True)
    fired_at = mapped_column(UtcDateTime, nullable=True)
    cancelled_at = mapped_column(UtcDateTime, nullable=True)


class Notification(Base):
    """Who was (or was not, and why) told of a document, when, by which channel: the evidence of
    001 §21. ``unit_code`` is the recipient unit the step concerns; once queued, the status is the
    message's."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_pending", "status", "user_id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    document_id: Mapped[str] = mapped_column(String(36), index=True)
    unit_code: Mapped[str] = mapped_column(String(64))
    step_id: Mapped[int | None] = mapped_column(Integer, index=True)
    step: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[str | None] = mapped_column(ACTOR_ID)
    role: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(8))
    to: Mapped[str | None] = mapped_column(String(20))
    template: Mapped[str] = mapped_column(String(64))
    urgent: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(36), index=True)
    created_at = mapped_column(UtcDateTime, nullable=False)
    send_after = mapped_column(UtcDateTime, nullable=False)


class CertificateAlert(Base):
    """Who was told that a certificate is about to expire (seal's ``certificate_expiring``), or why
    not: one row per recipient — the operators and the owning unit's admin."""

    __tablename__ = "certificate_alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    certificate_serial: Mapped[str] = mapped_column(String(48), index=True)
    threshold_days: Mapped[int] = mapped_column(Integer)
    unit_code: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))  # operator | admin
    user_id: Mapped[str | None] = mapped_column(ACTOR_ID)
    status: Mapped[str] = mapped_column(String(16))  # queued | skipped
    reason: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(36))
    created_at = mapped_column(UtcDateTime, nullable=False)
