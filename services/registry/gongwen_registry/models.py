from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from gongwen_common.audit import AuditRecordColumns
from gongwen_common.tables import UtcDateTime

ACTOR_ID = String(64)


class Base(DeclarativeBase):
    pass


class Unit(Base):
    """A member organisation of the exchange (使用单位), with its contacts and, once revoked, why."""

    __tablename__ = "units"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    parent_code: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at = mapped_column(UtcDateTime, nullable=False)
    registered_by: Mapped[str] = mapped_column(ACTOR_ID, server_default="system")
    approved_at = mapped_column(UtcDateTime, nullable=True)
    approved_by: Mapped[str | None] = mapped_column(ACTOR_ID)

    sms_enabled: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    admin_user_id: Mapped[str | None] = mapped_column(ACTOR_ID)
    clerk_user_ids: Mapped[list | None] = mapped_column(JSON)
    leader_user_id: Mapped[str | None] = mapped_column(ACTOR_ID)
    deputy_leader_user_id: Mapped[str | None] = mapped_column(ACTOR_ID)

    revoked_at = mapped_column(UtcDateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(ACTOR_ID)
    revocation_reason: Mapped[str | None] = mapped_column(String(500))
    documents_policy: Mapped[str | None] = mapped_column(String(16))
    successor_code: Mapped[str | None] = mapped_column(String(64))

    # Bumped by SQLAlchemy on every change (and checked: a concurrent change fails instead of
    # being lost). Events carry it so consumers apply unit states in order.
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    __mapper_args__ = {"version_id_col": version}

    # Loaded with every unit: the view always shows former names, and selectin keeps a page or a
    # resolve of many units to one extra query instead of one per unit.
    name_history: Mapped[list["UnitName"]] = relationship(
        lazy="selectin", order_by=lambda: [UnitName.valid_to, UnitName.id])


class UnitName(Base):
    """A name a unit no longer bears, and when it bore it (history keeps the old name, 000 §22)."""

    __tablename__ = "unit_names"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    valid_from = mapped_column(UtcDateTime, nullable=False)
    valid_to = mapped_column(UtcDateTime, nullable=False)
    changed_by: Mapped[str] = mapped_column(ACTOR_ID)


class ContactChange(Base):
    """A change of admin, clerks, leaders or SMS, filed (备案) with the operator (000 §10, 001 §24)."""

    __tablename__ = "contact_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict] = mapped_column(JSON)
    filed_by: Mapped[str] = mapped_column(ACTOR_ID)
    filed_at = mapped_column(UtcDateTime, nullable=False)


class UnitMerge(Base):
    """A merge decision (合并, 003 §10(三)): which units went into which, by whom and when."""

    __tablename__ = "unit_merges"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    into_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    from_codes: Mapped[list] = mapped_column(JSON)
    new_unit_created: Mapped[bool] = mapped_column(Boolean)
    merged_at = mapped_column(UtcDateTime, nullable=False)
    merged_by: Mapped[str] = mapped_column(ACTOR_ID)


class AuditRecord(AuditRecordColumns, Base):
    """Every change to a unit, with who made it (and the proxy acting for them) and when."""
