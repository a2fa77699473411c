"""Identity tables. ``migrations/versions`` creates the same schema with explicit ``op`` calls;
``tests/test_service_migrations.py`` keeps the two in step."""
from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from gongwen_common.audit import AuditRecordColumns
from gongwen_common.tables import UtcDateTime
from gongwen_contracts.registry.replica import UnitViewColumns


class Base(DeclarativeBase):
    pass


class UnitView(UnitViewColumns, Base):
    """This service's own copy of the unit directory, fed by registry events."""


class User(Base):
    """A real-name account (实名账号), one person one account (004 六(三))."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    unit_code: Mapped[str] = mapped_column(String(64), index=True)
    mobile: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(Boolean)
    password_changed_at = mapped_column(UtcDateTime, nullable=False)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until = mapped_column(UtcDateTime, nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at = mapped_column(UtcDateTime, nullable=False)
    approved_by: Mapped[str | None] = mapped_column(String(36))
    approved_at = mapped_column(UtcDateTime, nullable=True)
    disabled_by: Mapped[str | None] = mapped_column(String(80))
    disabled_at = mapped_column(UtcDateTime, nullable=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    last_login_at = mapped_column(UtcDateTime, nullable=True)

    role_rows: Mapped[list["UserRole"]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def roles(self) -> list[str]:
        return sorted(row.role for row in self.role_rows)


class UserRole(Base):
    __tablename__ = "user_roles"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)


class DeviceKey(Base):
    """The public half of a user's U_Key (身份锁); the private half never leaves the device."""

    __tablename__ = "device_keys"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    public_key_pem: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    enrolled_by: Mapped[str | None] = mapped_column(String(36))
    enrolled_at = mapped_column(UtcDateTime, nullable=False)
    replaced_at = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (
        # Exactly one active key per user, and one U_Key belongs to one person only.
        Index("uq_device_keys_active_user", "user_id", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
        Index("uq_device_keys_active_fingerprint", "fingerprint", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
    )


class Challenge(Base):
    """A login nonce for one username: single use, short-lived."""

    __tablename__ = "login_challenges"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    username: Mapped[str] = mapped_column(String(200))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    issued_at = mapped_column(UtcDateTime, nullable=False)
    expires_at = mapped_column(UtcDateTime, nullable=False, index=True)
    used_at = mapped_column(UtcDateTime, nullable=True)


class SigningKey(Base):
    """A token signing key pair; the private key only ever stored AES-GCM encrypted under the KEK."""

    __tablename__ = "signing_keys"
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    public_key_pem: Mapped[str] = mapped_column(Text)
    private_key_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    private_key_nonce: Mapped[bytes] = mapped_column(LargeBinary)
    kek_id: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    created_at = mapped_column(UtcDateTime, nullable=False)


class AccessToken(Base):
    """Every access token issued, so a user's or client's sessions can be revoked at once."""

    __tablename__ = "access_tokens"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(String(80), index=True)
    # Set on a proxy's token (代理人): disabling either person ends it.
    proxy_user_id: Mapped[str | None] = mapped_column(String(36), index=True)
    issued_at = mapped_column(UtcDateTime, nullable=False)
    expires_at = mapped_column(UtcDateTime, nullable=False, index=True)


class RevokedToken(Base):
    __tablename__ = "revoked_tokens"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at = mapped_column(UtcDateTime, nullable=False, index=True)
    revoked_at = mapped_column(UtcDateTime, nullable=False)
    reason: Mapped[str] = mapped_column(String(64))


class Client(Base):
    """A unit's department system (client credentials); the secret is stored argon2-hashed."""

    __tablename__ = "clients"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(64), index=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(36))
    created_at = mapped_column(UtcDateTime, nullable=False)
    rotated_by: Mapped[str | None] = mapped_column(String(36))
    rotated_at = mapped_column(UtcDateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(36))
    revoked_at = mapped_column(UtcDateTime, nullable=True)


class Proxy(Base):
    """A proxy (代理人) named to act for a principal within a time window (000 §16, 003 §17)."""

    __tablename__ = "proxies"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    principal_user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    proxy_user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    unit_code: Mapped[str] = mapped_column(String(64))
    starts_at = mapped_column(UtcDateTime, nullable=False)
    ends_at = mapped_column(UtcDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(36))
    created_at = mapped_column(UtcDateTime, nullable=False)


class BootstrapRecord(Base):
    """One row, ever: its primary key makes two concurrent bootstraps collide."""

    __tablename__ = "bootstrap_records"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36))
    bootstrapped_at = mapped_column(UtcDateTime, nullable=False)


class AuditRecord(AuditRecordColumns, Base):
    """Who changed what and when: every state change of this service (``gongwen_common.audit``)."""
