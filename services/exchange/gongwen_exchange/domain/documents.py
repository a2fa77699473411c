"""Sending (发文) and the sender's side: a sealed document to many units with one receipt each,
the sender's outbox and receipt matrix, recall (撤回) before anyone signed, resend (重发) to a
returned recipient, and paper service during an outage (001 §13).

Send is all or nothing: the metadata, recipients and files are checked first, the manifest is
sealed by the seal service (two-person custody honoured there), and the document, its blobs, the
receipts, the audit record and ``document_sent`` commit in one transaction.
"""
import re
import uuid
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from gongwen_common import manifest as manifests
from gongwen_common.audit import AuditTrail, Caller
from gongwen_common.errors import validated
from gongwen_contracts.exchange.schemas import MetadataSchema, PaperDeliverySchema, ResendSchema, SealApprovalsSchema

from ..models import Attachment, AuditRecord, Document, Receipt, ResendRequest, UnitView
from . import blobs
from .errors import (
    ClassifiedNotAllowed,
    DocNumberTaken,
    DomainError,
    Forbidden,
    InvalidReceiptState,
    NotFound,
    RecallNotAllowed,
    UnknownUnit,
    ValidationFailed,
)

record = AuditTrail(AuditRecord).record
SENDER_ROLES = ("clerk",)
CUSTODY_APPROVAL_REQUIRED = "CUSTODY_APPROVAL_REQUIRED"  # the seal service's refusal under two-person custody
OPEN = ("delivered", "read")  # not yet signed for: still running against its deadline
CLOSED = ("registered", "paper_served")  # done, for the document's completion
_YEAR = re.compile(r"[〔\[(（]\s*(\d{4})\s*[〕\])）]")
MAX_ATTACHMENTS = 50


MAX_IDEMPOTENCY_KEY = 128


def idempotency_key(key) -> str | None:
    """The caller's ``Idempotency-Key``, if any: 1–128 characters (it is stored, scoped, with the answer)."""
    if key is None:
        return None
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        raise ValidationFailed({"Idempotency-Key": [f"1–{MAX_IDEMPOTENCY_KEY} characters"]})
    return key


def doc_year(doc_number: str, sent_at, timezone: str) -> int:
    """The year a document number belongs to: the 〔2026〕 in 穗府办〔2026〕31号, else the send year."""
    found = _YEAR.search(doc_number)
    return int(found.group(1)) if found else sent_at.astimezone(ZoneInfo(timezone)).year


def _recipients(session, metadata: dict, issuer: str, to_self: bool = False) -> list[tuple[str, str]]:
    main, cc = metadata["main_recipients"], metadata["cc_recipients"]
    codes = [*main, *cc]
    if len(set(codes)) != len(codes):
        raise ValidationFailed({"cc_recipients": ["a unit may be addressed once (main or copy)"]})
    if issuer in codes and not to_self:  # only the operator's canary sends to itself (domain.canary)
        raise ValidationFailed({"main_recipients": ["a unit does not send to itself"]})
    if len(codes) > 1000:
        raise ValidationFailed({"main_recipients": ["at most 1,000 recipient units"]})
    active = set(session.scalars(select(UnitView.code).where(UnitView.code.in_(codes), UnitView.status == "active")))
    unknown = [code for code in codes if code not in active]
    if unknown:
        raise UnknownUnit(message=f"{len(unknown)} recipient unit(s) are unknown or not active",
                                fields={"recipients": unknown[:50]})
    unaddressed = set(metadata["print_grants"]) - set(codes)
    if unaddressed:
        raise ValidationFailed({"print_grants": [f"not a recipient: {sorted(unaddressed)[:10]}"]})
    return [(code, "main") for code in main] + [(code, "cc") for code in cc]


def build_manifest(metadata: dict, issuer_code: str, issued_at, body: bytes, attachments) -> bytes:
    """API.md's manifest: RFC 8785 canonical JSON of the metadata, issuer, time and every part's digest."""
    signed = {k: v for k, v in metadata.items() if k != "seal_use_approval_ids"}
    return manifests.canonical_bytes({
        **signed, "issuer_code": issuer_code, "issued_at": issued_at.isoformat(),
        "body_sha256": manifests.sha256_hex(body),
        "attachments": [{"name": name, "sha256": manifests.sha256_hex(data), "size": len(data)}
                        for name, data in attachments]})


def send(session, metadata, body: bytes, body_name, attachments, actor, sealer, policy, calendar, limits,
         now, to_self=False) -> dict:
    """Send a document. ``sealer(manifest_bytes, approval_ids) -> {"signature" (DER bytes), "seal_serial"}``
    is the seal service; ``attachments`` is ``[(name, bytes)]``; ``limits`` = (per file, in all)."""
    caller = Caller.of(actor)
    if not caller.unit_code or not any(caller.has(role) for role in SENDER_ROLES):
        raise Forbidden(message="Only a unit's clerks (or their proxies) send documents.")
    metadata = validated(MetadataSchema(), metadata, under="metadata")
    if metadata["secrecy"].strip().lower() != "none":
        raise ClassifiedNotAllowed(message="Classified (涉密) documents may not travel on this system.",
                                   fields={"metadata": {"secrecy": ["only \"none\""]}})
    per_file, in_all = limits
    blobs.require_size(body, per_file, "body")
    if not isinstance(attachments, list) or len(attachments) > MAX_ATTACHMENTS:
        raise ValidationFailed({"attachments": [f"at most {MAX_ATTACHMENTS} files"]})
    named = []
    for position, (name, data) in enumerate(attachments, start=1):
        blobs.require_size(data, per_file, f"attachments[{position}]")
        named.append((blobs.sanitise_filename(name, f"attachment-{position}"), data))
    if len({name for name, _ in named}) != len(named):
        raise ValidationFailed({"attachments": ["two attachments have the same name"]})
    if len(body) + sum(len(d) for _, d in named) > in_all:
        raise blobs.PayloadTooLarge(message=f"the document exceeds {in_all} bytes in all")
    issuer = caller.unit_code
    recipients = _recipients(session, metadata, issuer, to_self)
    year = doc_year(metadata["doc_number"], now, policy.timezone)
    taken = select(Document.id).where(Document.issuer_code == issuer, Document.doc_year == year,
                                      Document.doc_number == metadata["doc_number"])
    number_taken = DocNumberTaken(message=f"{metadata['doc_number']} was already used by {issuer} in {year}")
    if session.scalar(taken) is not None:
        raise number_taken

    manifest = build_manifest(metadata, issuer, now, body, named)
    try:
        sealed = sealer(manifest, metadata.get("seal_use_approval_ids"))
    except DomainError as refused:
        if refused.code != CUSTODY_APPROVAL_REQUIRED:
            raise
        sealed = None  # two-person custody: the custodians approve this very manifest, then it is sealed
    document = Document(
        id=str(uuid.uuid4()), issuer_code=issuer, doc_number=metadata["doc_number"], doc_year=year,
        title=metadata["title"], signer=metadata["signer"], urgency=metadata["urgency"], metadata_json=metadata,
        manifest=manifest, manifest_sha256=manifests.sha256_hex(manifest),
        body_name=blobs.sanitise_filename(body_name, "body"), body_sha256=blobs.store(session, body, now),
        status="awaiting_seal", sent_at=now, sent_by=caller.user_id, sent_by_proxy=caller.proxy_user_id)
    stored = [blobs.store(session, data, now) for _, data in named]
    # Through the relationship, so the answer's document_view reads them here, not back from the database.
    document.attachments = [Attachment(document_id=document.id, position=position, name=name, sha256=digest,
                                       size=len(data))
                            for position, ((name, data), digest) in enumerate(zip(named, stored, strict=True), 1)]
    try:
        # A concurrent send of the same number got in first: its unique key decides, not a 500.
        with session.begin_nested():
            session.add(document)
            session.flush()
    except IntegrityError:
        raise number_taken from None
    if sealed is None:
        record(session, now, caller, "document_awaiting_seal", "document", document.id,
               doc_number=document.doc_number, manifest_sha256=document.manifest_sha256)
        return {**document_view(document), "receipts": [],
                "message": "The seal is under two-person custody: its custodians approve this manifest_sha256 "
                           "(POST /api/v1/seals/{serial}/use-approvals), then POST /api/v1/documents/{id}/seal."}
    return deliver(session, document, recipients, sealed, caller, policy, calendar, now)


def seal_document(session, document_id, request, actor, sealer, policy, calendar, now) -> dict:
    """Seal a document that awaited its custodians' approvals, and deliver it."""
    caller = Caller.of(actor)
    approval_ids = validated(SealApprovalsSchema(), request)["seal_use_approval_ids"]
    document = sent_by_caller(session, document_id, caller, lock=True)
    if not any(caller.has(role) for role in SENDER_ROLES):
        raise Forbidden(message="Only the sending unit's clerks send documents.")
    if document.status != "awaiting_seal":
        raise InvalidReceiptState(message=f"the document is {document.status}, not awaiting its seal")
    recipients = _recipients(session, document.metadata_json, document.issuer_code)
    return deliver(session, document, recipients, sealer(document.manifest, approval_ids), caller, policy,
                   calendar, now)


def deliver(session, document: Document, recipients, sealed: dict, caller: Caller, policy, calendar, now) -> dict:
    """The sealed document goes out: one receipt per recipient with its deadline, and ``document_sent``."""
    document.signature, document.seal_serial = sealed["signature"], sealed["seal_serial"]
    document.status, document.sent_at = "sent", now
    due_at = policy.due_at(now, document.urgency, calendar)
    grants = document.metadata_json.get("print_grants") or {}
    receipts = [new_receipt(document, code, role, 1, None, grants.get(code, 0), due_at, now)
                for code, role in recipients]
    session.add_all(receipts)
    session.flush()
    record(session, now, caller, "document_sent", "document", document.id, doc_number=document.doc_number,
           recipients=len(receipts), seal_serial=document.seal_serial)
    session.emit("document_sent", {**summary(document), "receipts": [receipt_brief(r) for r in receipts]}, at=now)
    return {**document_view(document), "receipts": [receipt_view(r) for r in receipts]}


def new_receipt(document, unit_code, role, generation, resent_from, copies, due_at, now) -> Receipt:
    return Receipt(id=str(uuid.uuid4()), document_id=document.id, unit_code=unit_code, role=role,
                   generation=generation, latest=True, resent_from=resent_from, state="delivered",
                   delivered_at=now, due_at=due_at, print_copies_granted=copies, print_copies_used=0)


def _iso(moment):
    return moment.isoformat() if moment else None


SUMMARY_FIELDS = ("id", "issuer_code", "doc_number", "title", "urgency", "signer", "sent_at", "status")
RECEIPT_FIELDS = tuple(column.key for column in Receipt.__table__.columns)


def _values(record, fields) -> Mapping:
    """A row read as plain values (the inbox's, Core: a mapping already) or a model instance's fields."""
    return record if isinstance(record, Mapping) else {name: getattr(record, name) for name in fields}


def summary(document: Document | Mapping) -> dict:
    d = _values(document, SUMMARY_FIELDS)
    return {"id": d["id"], "issuer_code": d["issuer_code"], "doc_number": d["doc_number"], "title": d["title"],
            "urgency": d["urgency"], "signer": d["signer"], "sent_at": d["sent_at"].isoformat(), "status": d["status"]}


def document_view(document: Document) -> dict:
    metadata = {k: v for k, v in document.metadata_json.items() if k != "seal_use_approval_ids"}
    return {**summary(document), "metadata": metadata,
            "manifest_sha256": document.manifest_sha256, "seal_serial": document.seal_serial,
            "body": {"name": document.body_name, "sha256": document.body_sha256},
            "attachments": [{"n": a.position, "name": a.name, "sha256": a.sha256, "size": a.size}
                            for a in document.attachments],
            "paper_attachments": document.metadata_json.get("paper_attachments", []),
            "sent_by": document.sent_by, "sent_by_proxy": document.sent_by_proxy,
            "recalled_at": _iso(document.recalled_at), "completed_at": _iso(document.completed_at)}


def receipt_brief(receipt: Receipt) -> dict:
    return {"receipt_id": receipt.id, "unit_code": receipt.unit_code, "role": receipt.role,
            "due_at": receipt.due_at.isoformat(), "generation": receipt.generation}


def receipt_view(receipt: Receipt | Mapping, now=None) -> dict:
    """One row of the receipt matrix: the state and each step's time and actor (and proxy)."""
    r = _values(receipt, RECEIPT_FIELDS)
    view = {"receipt_id": r["id"], "document_id": r["document_id"], "unit_code": r["unit_code"],
            "role": r["role"], "state": r["state"], "generation": r["generation"],
            "resent_from": r["resent_from"], "delivered_at": r["delivered_at"].isoformat(),
            "due_at": r["due_at"].isoformat(), "overdue_at": _iso(r["overdue_at"]),
            "first_read_at": _iso(r["first_read_at"]), "first_read_by": r["first_read_by"],
            "signed_at": _iso(r["signed_at"]), "signed_by": r["signed_by"],
            "signed_by_proxy": r["signed_by_proxy"], "registered_at": _iso(r["registered_at"]),
            "registered_by": r["registered_by"], "registered_by_proxy": r["registered_by_proxy"],
            "registration_number": r["registration_number"], "returned_at": _iso(r["returned_at"]),
            "returned_by": r["returned_by"], "returned_by_proxy": r["returned_by_proxy"],
            "return_reason": r["return_reason"], "recalled_at": _iso(r["recalled_at"]),
            "paper_served_at": _iso(r["paper_served_at"]), "paper_served_by": r["paper_served_by"],
            "paper_note": r["paper_note"], "print_copies_granted": r["print_copies_granted"],
            "print_copies_used": r["print_copies_used"], "closed_at": _iso(r["closed_at"]),
            "closed_reason": r["closed_reason"]}
    if now is not None:
        view["overdue"] = r["overdue_at"] is not None or (
            r["state"] in OPEN and r["closed_at"] is None and now >= r["due_at"])
    return view


def archival_record(session, document_id) -> dict:
    """Everything the archive keeps of a document (归档): its record, the exact sealed bytes, every
    part and the whole receipt matrix. For the archive service only (no caller: never routed to HTTP)."""
    document = find_document(session, document_id)
    rows = session.scalars(select(Receipt).where(Receipt.document_id == document.id)
                           .order_by(Receipt.role.desc(), Receipt.unit_code, Receipt.generation))
    return {"document": document_view(document), "manifest": document.manifest, "signature": document.signature,
            "body": blobs.fetch(session, document.body_sha256),
            "attachments": [{"n": a.position, "name": a.name, "data": blobs.fetch(session, a.sha256)}
                            for a in sorted(document.attachments, key=lambda a: a.position)],
            "receipts": [receipt_view(r) for r in rows]}


def find_document(session, document_id) -> Document:
    document = session.get(Document, document_id) if isinstance(document_id, str) else None
    if document is None:
        raise NotFound(message=f"no document {document_id!r}")
    return document


def sent_by_caller(session, document_id, caller: Caller, lock=False) -> Document:
    """The caller's unit's own sent document; any other unit's is 404 (existence does not leak)."""
    document = session.get(Document, document_id, with_for_update=lock, populate_existing=lock) \
        if isinstance(document_id, str) else None
    if document is None or document.issuer_code != caller.unit_code:
        raise NotFound(message=f"no document {document_id!r}")
    return document


def latest_receipts(session, document_id, lock=False) -> list[Receipt]:
    query = select(Receipt).where(Receipt.document_id == document_id, Receipt.latest.is_(True)) \
        .order_by(Receipt.role.desc(), Receipt.unit_code)
    if lock:  # read afresh: a concurrent request that held the lock has changed them
        query = query.with_for_update().execution_options(populate_existing=True)
    return list(session.scalars(query))


def receipts(session, document_id, actor, now) -> list[dict]:
    """The sender's matrix: every recipient (every delivery, resends included) × state × times."""
    document = sent_by_caller(session, document_id, Caller.of(actor))
    rows = session.scalars(select(Receipt).where(Receipt.document_id == document.id)
                           .order_by(Receipt.role.desc(), Receipt.unit_code, Receipt.generation))
    return [receipt_view(r, now) for r in rows]


def outbox(session, actor, limit: int, cursor: str | None) -> dict:
    """The sender unit's documents, newest first, with receipt counts by state."""
    caller = Caller.of(actor)
    query = select(Document).where(Document.issuer_code == caller.unit_code)
    if cursor:
        query = query.where(Document.sent_at < select(Document.sent_at).where(Document.id == cursor)
                            .scalar_subquery())
    page = list(session.scalars(query.order_by(Document.sent_at.desc(), Document.id).limit(limit + 1)))
    counts = {}
    if page:
        for document_id, state, n in session.execute(
                select(Receipt.document_id, Receipt.state, func.count()).where(
                    Receipt.document_id.in_([d.id for d in page[:limit]]), Receipt.latest.is_(True))
                .group_by(Receipt.document_id, Receipt.state)):
            counts.setdefault(document_id, {})[state] = n
    items = [{**summary(d), "receipt_counts": counts.get(d.id, {})} for d in page[:limit]]
    return {"items": items, "next_cursor": page[limit - 1].id if len(page) > limit else None}


def recall(session, document_id, actor, now) -> dict:
    """Withdraw (撤回) a document nobody has signed for yet; every receipt ends as ``recalled``."""
    caller = Caller.of(actor)
    document = sent_by_caller(session, document_id, caller, lock=True)
    if not any(caller.has(role) for role in SENDER_ROLES):
        raise Forbidden(message="Only the sending unit's clerks may recall.")
    if document.status not in ("sent", "awaiting_seal"):
        raise RecallNotAllowed(message=f"the document is {document.status}")
    rows = list(session.scalars(select(Receipt).where(Receipt.document_id == document.id).with_for_update()))
    if any(r.signed_at is not None for r in rows):
        raise RecallNotAllowed(message="a recipient has already signed for it")
    for receipt in rows:
        if receipt.latest and receipt.state in ("delivered", "read", "returned"):
            receipt.state, receipt.recalled_at = "recalled", now
    document.status, document.recalled_at, document.recalled_by = "recalled", now, caller.user_id
    record(session, now, caller, "document_recalled", "document", document.id)
    session.emit("document_recalled", {**summary(document), "unit_codes": sorted({r.unit_code for r in rows})}, at=now)
    return document_view(document)


def resend(session, document_id, request, actor, policy, calendar, now) -> list[dict]:
    """Send again (重发) to recipients whose receipt was returned or asked to be resent: a new
    delivery of the same sealed document, linked to the one it replaces, with a new deadline."""
    caller = Caller.of(actor)
    unit_codes = validated(ResendSchema(), request)["unit_codes"]
    document = sent_by_caller(session, document_id, caller, lock=True)
    if not any(caller.has(role) for role in SENDER_ROLES):
        raise Forbidden(message="Only the sending unit's clerks may resend.")
    if document.status == "recalled":
        raise InvalidReceiptState(message="the document was recalled")
    latest = {r.unit_code: r for r in latest_receipts(session, document.id, lock=True)}
    missing = [code for code in unit_codes if code not in latest]
    if missing:
        raise ValidationFailed({"unit_codes": [f"not recipients: {missing[:10]}"]})
    active = set(session.scalars(select(UnitView.code).where(UnitView.code.in_(unit_codes),
                                                             UnitView.status == "active")))
    gone = [code for code in unit_codes if code not in active]
    if gone:  # a revoked unit receives nothing more (its documents went as its revocation decided)
        raise UnknownUnit(message=f"{len(gone)} unit(s) are no longer active", fields={"unit_codes": gone[:50]})
    open_requests = list(session.scalars(select(ResendRequest).where(
        ResendRequest.receipt_id.in_([latest[code].id for code in unit_codes]), ResendRequest.answered_at.is_(None))))
    asked = {row.receipt_id for row in open_requests}
    wrong = [code for code in unit_codes if latest[code].state != "returned" and latest[code].id not in asked]
    if wrong:
        raise InvalidReceiptState(message=f"only returned receipts or those asking for it are resent: {wrong[:10]}")
    due_at = policy.due_at(now, document.urgency, calendar)
    made = []
    for code in unit_codes:
        old = latest[code]
        old.latest = False
        made.append(new_receipt(document, code, old.role, old.generation + 1, old.id, old.print_copies_granted,
                                due_at, now))
    for row in open_requests:
        row.answered_at = now
    session.add_all(made)
    document.status, document.completed_at = "sent", None
    session.flush()
    record(session, now, caller, "document_resent", "document", document.id, unit_codes=unit_codes)
    session.emit("document_sent", {**summary(document), "resend": True, "receipts": [receipt_brief(r) for r in made]},
                 at=now)
    return [receipt_view(r, now) for r in made]


def paper_delivery(session, document_id, request, actor, now) -> dict:
    """Record that a recipient was served on paper during an outage (001 §13, 003 §51), by whom and when."""
    caller = Caller.of(actor)
    data = validated(PaperDeliverySchema(), request)
    document = sent_by_caller(session, document_id, caller, lock=True)
    receipt = next((r for r in latest_receipts(session, document.id, lock=True) if r.unit_code == data["unit_code"]),
                   None)
    if receipt is None:
        raise ValidationFailed({"unit_code": ["not a recipient of this document"]})
    if receipt.state == "paper_served" and receipt.paper_note == data["note"]:
        return receipt_view(receipt, now)  # a retry: recorded once, answered again
    if receipt.state not in ("delivered", "read", "returned") or receipt.closed_at is not None:
        raise InvalidReceiptState(message=f"the receipt is already {receipt.closed_reason or receipt.state}")
    receipt.state, receipt.paper_served_at = "paper_served", now
    receipt.paper_served_by, receipt.paper_note = caller.user_id, data["note"]
    record(session, now, caller, "receipt_paper_served", "receipt", receipt.id, unit_code=receipt.unit_code,
           note=data["note"])
    session.emit("receipt_paper_served", {**summary(document), "receipt": receipt_view(receipt)}, at=now)
    complete_if_done(session, document, now)
    return receipt_view(receipt, now)


def complete_if_done(session, document: Document, now) -> bool:
    """``document_completed``, once: every recipient's latest receipt is registered or served on
    paper, or was closed when its unit was revoked."""
    if document.status != "sent":
        return False
    if any(r.state not in CLOSED and r.closed_at is None for r in latest_receipts(session, document.id)):
        return False
    document.status, document.completed_at = "completed", now
    session.emit("document_completed", {**summary(document), "completed_at": now.isoformat()}, at=now)
    return True
