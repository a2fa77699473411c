"""Archive tables: the unit directory copy and the ledger (账本) — every event of every service,
appended in order, with the Merkle tree's perfect-subtree hashes, the signed tree heads and the
key that signs them (wrapped, like the seal keys). ``migrations/versions`` creates the same schema;
``tests/test_service_migrations.py`` keeps the two in step."""
from sqlalchemy import JSON, BigInteger, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gongwen_common.tables import UtcDateTime, WrappedKeyColumns
from gongwen_contracts.registry.replica import UnitViewColumns


class Base(DeclarativeBase):
    pass


class UnitView(UnitViewColumns, Base):
    """This service's own copy of the unit directory, fed by registry events."""


class LedgerEntry(Base):
    """One event, as the leaf it is in the tree: ``leaf_input`` is the exact bytes hashed (canonical
    JSON of the event with its own index), so anyone can recompute the leaf hash from this row alone.
    Never updated or deleted (append-only)."""

    __tablename__ = "ledger_entries"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(32))
    event_type: Mapped[str] = mapped_column(String(64))
    occurred_at = mapped_column(UtcDateTime, nullable=False)
    document_id: Mapped[str | None] = mapped_column(String(36), index=True)
    units: Mapped[list] = mapped_column(JSON)
    leaf_input: Mapped[bytes] = mapped_column(LargeBinary)
    appended_at = mapped_column(UtcDateTime, nullable=False)


class LedgerNode(Base):
    """The hash of a perfect subtree: 2**level leaves from leaf ``position * 2**level`` (level 0:
    the leaf hashes). Written once, when the subtree's last leaf is appended."""

    __tablename__ = "ledger_nodes"
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerState(Base):
    """The tree's size; its row lock is what orders appends from concurrent workers and instances."""

    __tablename__ = "ledger_state"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)


class TreeHead(Base):
    """A signed tree head (RFC 6962 §3.5): the root of the first ``tree_size`` entries at ``timestamp``
    (milliseconds since the epoch), signed over the RFC's ``TreeHeadSignature`` structure."""

    __tablename__ = "tree_heads"
    tree_size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(64))


class LedgerKey(WrappedKeyColumns, Base):
    """The archive's signing key (ECDSA P-256); ``id`` is the SHA-256 of its public key (RFC 6962's log id)."""

    __tablename__ = "ledger_keys"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_key_pem: Mapped[str] = mapped_column(Text)
    created_at = mapped_column(UtcDateTime, nullable=False)


class PackageJob(Base):
    """A document whose archival package is to be built (it completed); claimed by the builder timer."""

    __tablename__ = "package_jobs"
    document_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    due_at = mapped_column(UtcDateTime, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class ArchivalPackage(Base):
    """A document's archival package as taken in: its bytes, digest (also a ledger entry), the tree
    head its proofs are in, and the four-property check's result."""

    __tablename__ = "archival_packages"
    document_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes | None] = mapped_column(LargeBinary)  # None once disposed (销毁); the digest stays
    units: Mapped[list] = mapped_column(JSON)
    issuer_code: Mapped[str] = mapped_column(String(64))
    tree_size: Mapped[int] = mapped_column(Integer)
    check_result: Mapped[dict] = mapped_column(JSON)
    archived_at = mapped_column(UtcDateTime, nullable=False)
    retention_class: Mapped[str] = mapped_column(String(16))
    retain_until = mapped_column(UtcDateTime, nullable=True)  # None: kept permanently (永久)
    disposed_at = mapped_column(UtcDateTime, nullable=True)


class DisposalApproval(Base):
    """One person's approval to dispose of an expired package: the operator's and the owning unit's
    admin's are both needed, and the second disposes."""

    __tablename__ = "disposal_approvals"
    document_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    approver_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    capacity: Mapped[str] = mapped_column(String(16))  # "operator" | "unit_admin"
    proxy_user_id: Mapped[str | None] = mapped_column(String(80))
    approved_at = mapped_column(UtcDateTime, nullable=False)


class SearchDocument(Base):
    """A document as search finds it: its number, title, 签发人 and sending time, and ``text``, the
    lower-cased words it is found by (number, title, signer, the units' codes and names). On
    PostgreSQL a pg_trgm GIN index serves ``LIKE '%…%'`` on it; SQLite scans (see domain/search.py)."""

    __tablename__ = "search_documents"
    __table_args__ = (Index("ix_search_documents_text_trgm", "text", postgresql_using="gin",
                            postgresql_ops={"text": "gin_trgm_ops"}),)
    document_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    issuer_code: Mapped[str] = mapped_column(String(64))
    doc_number: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(500))
    urgency: Mapped[str] = mapped_column(String(16))
    signer: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    sent_at = mapped_column(UtcDateTime, nullable=False, index=True)
    text: Mapped[str] = mapped_column(Text)


class DocumentUnit(Base):
    """Which units a document concerns (its sender and every recipient): what search lets each find."""

    __tablename__ = "document_units"
    document_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
