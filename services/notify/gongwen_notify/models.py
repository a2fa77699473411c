"""Notify tables: the unit directory copy and the messages (SMS and voice calls) it sends.
``migrations/versions`` creates the same schema; ``tests/test_service_migrations.py`` keeps the two
in step."""
from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gongwen_common.tables import UtcDateTime
from gongwen_contracts.registry.replica import UnitViewColumns

MESSAGE_STATUSES = ("queued", "sending", "sent", "delivered", "undelivered", "failed")
CHANNELS = ("sms", "voice")


class Base(DeclarativeBase):
    pass


class UnitView(UnitViewColumns, Base):
    """This service's own copy of the unit directory, fed by registry events."""


class Message(Base):
    """One SMS or voice call we intend to make, recorded before any call to Twilio so that a retry
    after an ambiguous failure looks the message up instead of sending it twice.

    ``reference`` is the short code carried in the text (and our id in the status callback URL);
    ``unit_code`` is the unit that pays for it (000 §11: each unit pays its own SMS)."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_due", "status", "next_attempt_at"),)
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
