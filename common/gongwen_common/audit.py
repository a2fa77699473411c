"""The audit trail every service keeps: each state change with who did it, for whom, and when.

A proxy (代理人) acts for a principal; the record then names both (000 §16, 003 §17): ``actor`` is
the principal whose authority was used, ``proxy_user_id`` the person who actually acted. Each
service declares its table from :class:`AuditRecordColumns` on its own ``Base`` (as with the unit
directory replica) and records through one :class:`AuditTrail`.
"""
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .tables import UtcDateTime

ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Acting:
    """Who acts: the principal's id and, when a proxy acts for them, the proxy's id."""

    user_id: str
    proxy_user_id: str | None = None

    @classmethod
    def of(cls, actor) -> "Acting":
        """From a user id, ``{"user_id", "proxy_user_id"?}`` as the gateway passes it, or token claims."""
        if isinstance(actor, Acting):
            return actor
        if isinstance(actor, str):
            return cls(actor)
        if isinstance(actor, dict):
            user_id = actor.get("user_id") or actor.get("sub")
            proxy = actor.get("proxy_user_id")
            return cls(user_id if isinstance(user_id, str) else ANONYMOUS,
                       proxy if isinstance(proxy, str) and proxy else None)
        return cls(ANONYMOUS)

    @property
    def by_proxy(self) -> bool:
        return self.proxy_user_id is not None


@dataclass(frozen=True)
class Caller(Acting):
    """Who calls a service, as the gateway vouches for them (``actor_of``): the principal, their
    unit and roles (a proxy holds the principal's), and the proxy acting, if any."""

    unit_code: str | None = None
    roles: frozenset = frozenset()

    @classmethod
    def of(cls, actor) -> "Caller":
        acting = Acting.of(actor)
        actor = actor if isinstance(actor, dict) else {}
        roles = actor.get("roles") if isinstance(actor.get("roles"), list | tuple) else ()
        unit_code = actor.get("unit_code")
        return cls(acting.user_id, acting.proxy_user_id, unit_code if isinstance(unit_code, str) else None,
                   frozenset(r for r in roles if isinstance(r, str)))

    def has(self, role: str) -> bool:
        return role in self.roles

    @property
    def is_operator(self) -> bool:
        return "operator" in self.roles

    def is_admin_of(self, unit_code: str) -> bool:
        return "admin" in self.roles and self.unit_code == unit_code


class AuditRecordColumns:
    __tablename__ = "audit_records"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    occurred_at = mapped_column(UtcDateTime, nullable=False, index=True)
    actor: Mapped[str] = mapped_column(String(80))
    proxy_user_id: Mapped[str | None] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(80), index=True)
    details: Mapped[dict] = mapped_column(JSON)


def create_table(op) -> None:
    """For a service's migration: the audit table as this version of the trail defines it."""
    op.create_table(
        "audit_records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("occurred_at", UtcDateTime, nullable=False, index=True),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("proxy_user_id", sa.String(80)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject_type", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(80), index=True),
        sa.Column("details", sa.JSON, nullable=False),
    )


class AuditTrail:
    """Appends to one service's audit table, in the caller's transaction (so a rolled-back change
    leaves no record, and a committed one always has its record)."""

    def __init__(self, model):
        self.model = model

    def record(self, session, now, actor, action: str, subject_type: str, subject_id: str | None,
               **details) -> None:
        acting = Acting.of(actor) if actor is not None else Acting(ANONYMOUS)
        session.add(self.model(occurred_at=now, actor=acting.user_id, proxy_user_id=acting.proxy_user_id,
                               action=action, subject_type=subject_type, subject_id=subject_id, details=details))
