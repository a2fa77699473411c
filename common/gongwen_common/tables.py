"""Infrastructure tables every service database has: outbox, handled events, dead letters,
idempotency records. Each service's first migration creates them (``migrate.create_infra_tables``)."""
from datetime import UTC

from sqlalchemy import JSON, DateTime, Integer, LargeBinary, String, Text, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on PostgreSQL and SQLite alike (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class WrappedKeyColumns:
    """A private key as ``gongwen_common.keywrap`` stores it: never in clear."""

    kek_id: Mapped[str | None] = mapped_column(String(16))
    wrapped_data_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)


class InfraBase(DeclarativeBase):
    pass


class OutboxEvent(InfraBase):
    """An event written in the same transaction as the state change that caused it.

    A relay claims unsent rows for a while (``claimed_by`` until ``claimed_until``) in a short
    transaction of its own, publishes them outside any transaction, then marks them sent; a
    claim whose lease ran out (its relay died or hangs) may be claimed again."""

    __tablename__ = "outbox_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict] = mapped_column(JSON)
    correlation_id: Mapped[str | None] = mapped_column(String(100))
    created_at = mapped_column(UtcDateTime, nullable=False)
    sent_at = mapped_column(UtcDateTime, nullable=True, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until = mapped_column(UtcDateTime, nullable=True)


class HandledEvent(InfraBase):
    """Proof that a handler already applied an event: the consumer side of exactly-once effect."""

    __tablename__ = "handled_events"
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    handler: Mapped[str] = mapped_column(String(200), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(100))
    handled_at = mapped_column(UtcDateTime, nullable=False, index=True)  # housekeeping purges by it


class DeadLetter(InfraBase):
    """An event that kept failing, kept for an operator to inspect and replay."""

    __tablename__ = "dead_letters"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    queue: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str | None] = mapped_column(String(100))
    event_id: Mapped[str | None] = mapped_column(String(36))
    body: Mapped[dict] = mapped_column(JSON)
    headers: Mapped[dict] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    dead_at = mapped_column(UtcDateTime, nullable=False)
    replayed_at = mapped_column(UtcDateTime, nullable=True, index=True)
    replay_count: Mapped[int] = mapped_column(Integer, default=0)


class IdempotencyRecord(InfraBase):
    """The first answer to a mutating call, returned again for a repeat with the same key.

    The first call inserts the record before it performs (``response`` still None: the claim),
    so a concurrent repeat waits on the row instead of performing too."""

    __tablename__ = "idempotency_records"
    operation: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at = mapped_column(UtcDateTime, nullable=False, index=True)
