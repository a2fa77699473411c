"""Seal service tables: the operator CA, each unit's electronic seal (电子印章) with its key kept
only as envelope-encrypted ciphertext, custody approvals, destruction approvals, and the log of
every use. ``migrations/versions`` creates the same schema; ``tests/test_service_migrations.py``
keeps the two in step."""
from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gongwen_common.audit import AuditRecordColumns
from gongwen_common.tables import UtcDateTime, WrappedKeyColumns
from gongwen_contracts.registry.replica import UnitViewColumns


class Base(DeclarativeBase):
    pass


class UnitView(UnitViewColumns, Base):
    """This service's own copy of the unit directory, fed by registry events."""


class Authority(WrappedKeyColumns, Base):
    """The operator's root certificate authority (根证书), created at first use."""

    __tablename__ = "authorities"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # "root"
    certificate_pem: Mapped[str] = mapped_column(Text)
    created_at = mapped_column(UtcDateTime, nullable=False)


class Seal(WrappedKeyColumns, Base):
    """A unit's seal: applied → approved → active → revoked | destroyed (003 §20–23)."""

    __tablename__ = "seals"
    serial: Mapped[str] = mapped_column(String(32), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(64), index=True)
    unit_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    required_approvals: Mapped[int] = mapped_column(Integer)
    custodian_user_ids: Mapped[list] = mapped_column(JSON)
    image_png: Mapped[bytes] = mapped_column(LargeBinary)
    image_source: Mapped[str] = mapped_column(String(16))  # rendered | uploaded
    replaces_serial: Mapped[str | None] = mapped_column(String(32))
    applied_by: Mapped[str] = mapped_column(String(80))
    applied_at = mapped_column(UtcDateTime, nullable=False)
    approved_by: Mapped[str | None] = mapped_column(String(80))
    approved_at = mapped_column(UtcDateTime)
    certificate_pem: Mapped[str | None] = mapped_column(Text)
    certificate_serial: Mapped[str | None] = mapped_column(String(48))
    not_before = mapped_column(UtcDateTime)
    not_after = mapped_column(UtcDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(80))
    revoked_at = mapped_column(UtcDateTime)
    revocation_reason: Mapped[str | None] = mapped_column(String(500))
    destroyed_at = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}


class UseApproval(Base):
    """A custodian's approval of one use of the seal on one manifest (two-person custody, 004 五(四))."""

    __tablename__ = "seal_use_approvals"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seal_serial: Mapped[str] = mapped_column(ForeignKey("seals.serial"), index=True)
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    custodian_user_id: Mapped[str] = mapped_column(String(80))
    approved_at = mapped_column(UtcDateTime, nullable=False)
    used_at = mapped_column(UtcDateTime)


class DestructionApproval(Base):
    """One party's recorded presence at a seal's destruction (003 §21): operator, secrecy bureau,
    owning unit; three distinct people, so one person holding two roles stands for one party."""

    __tablename__ = "seal_destruction_approvals"
    __table_args__ = (UniqueConstraint("seal_serial", "party"),
                      Index("ix_seal_destruction_approvals_person", "seal_serial", "user_id", unique=True))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seal_serial: Mapped[str] = mapped_column(ForeignKey("seals.serial"), index=True)
    party: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(80))
    approved_at = mapped_column(UtcDateTime, nullable=False)


class SealUse(Base):
    """Every signature made with a seal: what, when, by whom (and for whom), with which approvals.
    ``request_key`` names the request (unit, seal, manifest, approvals): a retry returns the
    stored signature instead of sealing, and consuming approvals, again."""

    __tablename__ = "seal_uses"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seal_serial: Mapped[str] = mapped_column(ForeignKey("seals.serial"), index=True)
    manifest_sha256: Mapped[str] = mapped_column(String(64), index=True)
    signed_at = mapped_column(UtcDateTime, nullable=False)
    signed_by: Mapped[str] = mapped_column(String(80))
    proxy_user_id: Mapped[str | None] = mapped_column(String(80))
    approval_ids: Mapped[list] = mapped_column(JSON)
    request_key: Mapped[str | None] = mapped_column(String(64), index=True, unique=True)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)


class PrintStamp(Base):
    """A verification seal for a printed copy (004 五(一)): the print serial stamped on it.
    ``stamp_key`` is the caller's name for the print (the exchange's print id): one stamp per key."""

    __tablename__ = "print_stamps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    print_serial: Mapped[str] = mapped_column(String(40), unique=True)
    seal_serial: Mapped[str] = mapped_column(ForeignKey("seals.serial"), index=True)
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    issued_at = mapped_column(UtcDateTime, nullable=False)
    issued_to: Mapped[str] = mapped_column(String(80))
    stamp_key: Mapped[str | None] = mapped_column(String(80), index=True, unique=True)


class CertificateExpiryAlert(Base):
    """A certificate's expiry alert already raised for one threshold (60, 30 or 7 days): the
    row and the ``certificate_expiring`` event commit together, so each is raised once whatever
    the instances checking."""

    __tablename__ = "certificate_expiry_alerts"
    certificate_serial: Mapped[str] = mapped_column(String(48), primary_key=True)
    threshold_days: Mapped[int] = mapped_column(Integer, primary_key=True)
    not_after = mapped_column(UtcDateTime, nullable=False)
    raised_at = mapped_column(UtcDateTime, nullable=False)


class AuditRecord(AuditRecordColumns, Base):
    """Every change to seals, with who made it (and the proxy acting for them) and when."""
