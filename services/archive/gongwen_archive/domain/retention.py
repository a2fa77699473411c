"""Retention (保管期限) per kind of document, and disposal (销毁) of an expired package only with the
recorded approvals of two people — the operator and the owning (sending) unit's admin — the
second of whom disposes: the package's bytes go, its digest, metadata and a ledger entry stay.

The kind of a document is its 文种, which its title ends with (…的通知, …的函): the fifteen kinds of
the Regulations on the Handling of Official Documents of Party and Government Organs (2012, §8).
``ARCHIVE_RETENTION`` maps kinds to years, 0 for permanent (永久); ``default`` for the rest."""
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from gongwen_common.audit import Caller
from gongwen_common.db import insert_new
from gongwen_common.entrypoints import Event
from gongwen_common.errors import Forbidden, NotFound
from gongwen_contracts.archive.schemas import APPROVER_CAPACITIES

from ..models import ArchivalPackage, DisposalApproval
from . import ledger
from .errors import KeptPermanently, RetentionNotPassed

DOCUMENT_KINDS = ("决议", "决定", "命令", "令", "公报", "公告", "通告", "意见", "通知", "通报", "报告", "请示",
                  "批复", "议案", "函", "纪要")
DEFAULT_RETENTION = "决议=0,决定=0,命令=0,令=0,公报=0,议案=0,纪要=30,意见=30,报告=30,请示=30,批复=30,default=30"


def document_kind(title: str) -> str:
    """The 文种 a title ends with (the longest that fits: 命令 before 令), or ``default``."""
    for kind in sorted(DOCUMENT_KINDS, key=len, reverse=True):
        if isinstance(title, str) and title.rstrip().endswith(kind):
            return kind
    return "default"


@dataclass(frozen=True)
class RetentionPolicy:
    years: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> "RetentionPolicy":
        years = {}
        for pair in (text or DEFAULT_RETENTION).split(","):
            kind, _, value = pair.partition("=")
            if kind.strip() and value.strip().isdigit():
                years[kind.strip()] = int(value)
        years.setdefault("default", 30)
        return cls(years)

    def retain_until(self, kind: str, archived_at: datetime) -> datetime | None:
        years = self.years.get(kind, self.years["default"])
        if years == 0:
            return None
        try:
            return archived_at.replace(year=archived_at.year + years)
        except ValueError:  # 29 February
            return archived_at.replace(year=archived_at.year + years, day=28)


def _view(package: ArchivalPackage, approvals) -> dict:
    return {"document_id": package.document_id, "retention_class": package.retention_class,
            "retain_until": package.retain_until.isoformat() if package.retain_until else None,
            "status": "disposed" if package.disposed_at else ("awaiting_approval" if approvals else "kept"),
            "disposed_at": package.disposed_at.isoformat() if package.disposed_at else None,
            "approvals": [{"approver_id": a.approver_id, "capacity": a.capacity, "proxy_user_id": a.proxy_user_id,
                           "approved_at": a.approved_at.isoformat()} for a in approvals]}


def _approvals(session, document_id):
    return list(session.scalars(select(DisposalApproval).where(DisposalApproval.document_id == document_id)
                                .order_by(DisposalApproval.approved_at, DisposalApproval.approver_id)))


def approve_disposal(session, document_id, actor, now) -> dict:
    """Record the caller's approval; the second of the two (operator, unit admin) disposes."""
    caller = Caller.of(actor)
    package = session.get(ArchivalPackage, document_id, with_for_update=True) if isinstance(document_id, str) \
        else None
    if package is None or not (caller.is_operator or caller.unit_code == package.issuer_code):
        raise NotFound(message=f"No archival package of document {document_id!r} for you.")
    if package.disposed_at is not None:
        return _view(package, _approvals(session, document_id))
    if not (caller.is_operator or caller.is_admin_of(package.issuer_code)):
        raise Forbidden(message="Disposal is approved by the operator and the sending unit's admin.")
    if package.retain_until is None:
        raise KeptPermanently(message=f"A {package.retention_class} is kept permanently (永久).")
    if now < package.retain_until:
        raise RetentionNotPassed(message=f"Kept until {package.retain_until.date().isoformat()}; "
                                         "it may not be disposed of before.")
    insert_new(session, DisposalApproval, document_id=document_id, approver_id=caller.user_id,
               capacity="operator" if caller.is_operator else "unit_admin", proxy_user_id=caller.proxy_user_id,
               approved_at=now)
    approvals = _approvals(session, document_id)
    if {a.capacity for a in approvals} >= set(APPROVER_CAPACITIES) and len({a.approver_id for a in approvals}) >= 2:
        package.data, package.disposed_at = None, now
        ledger.append(session, "archive", Event(str(uuid.uuid4()), "package_disposed", now.isoformat(), {
            "document_id": document_id, "sha256": package.sha256, "issuer_code": package.issuer_code,
            "unit_codes": package.units, "retain_until": package.retain_until.isoformat(),
            "approvals": [{"approver_id": a.approver_id, "capacity": a.capacity, "proxy_user_id": a.proxy_user_id}
                          for a in approvals]}), now)
    return _view(package, approvals)
