"""The recipient's side (收文): the inbox, downloads (the first read is the receipt time, 003 §41),
sign for (签收) after re-verifying the seal, register (登记), return (退回) with a reason, print
within the sender's grant with the seal service's verification stamp, and asking for more copies
or for a resend (003 §42)."""
import uuid
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Bundle

from gongwen_common.audit import Caller
from gongwen_common.errors import validated
from gongwen_common.idempotency import once
from gongwen_contracts.exchange.schemas import PrintRequestSchema, ReasonSchema, RegistrationSchema

from ..models import Document, PrintRequest, Receipt, ResendRequest
from . import blobs
from .documents import (
    OPEN,
    SUMMARY_FIELDS,
    complete_if_done,
    document_view,
    find_document,
    idempotency_key,
    receipt_view,
    record,
    sent_by_caller,
    summary,
)
from .errors import Forbidden, InvalidReceiptState, NotFound, PrintNotGranted, SealInvalid, ValidationFailed

RECEIVER_ROLES = ("clerk", "system")  # a unit's clerks, or its own office system (client credentials)
READABLE = ("delivered", "read", "signed", "registered", "paper_served")


def _require_receiver(caller: Caller) -> None:
    if not any(caller.has(role) for role in RECEIVER_ROLES):
        raise Forbidden(message="Only the unit's clerks (or its system, or a clerk's proxy) may do this.")


def my_receipt(session, document_id, caller: Caller, lock=False) -> Receipt:
    """The caller's unit's current receipt of the document; 404 if the unit is not a recipient.
    Locked, it is read afresh: a concurrent request that held the lock has changed it."""
    query = select(Receipt).where(Receipt.document_id == document_id, Receipt.unit_code == caller.unit_code,
                                  Receipt.latest.is_(True))
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    receipt = session.scalar(query) if isinstance(document_id, str) else None
    if receipt is None:
        raise NotFound(message=f"no document {document_id!r}")
    return receipt


def require_open(receipt: Receipt) -> None:
    """A receipt closed when its unit was revoked takes no further step."""
    if receipt.closed_at is not None:
        raise InvalidReceiptState(message=f"the receipt was closed ({receipt.closed_reason}) when the unit was revoked")


# A poll reads plain rows of just what its page shows: building ORM instances was a third of a poll's
# CPU, and each document's row brought its manifest, signature and metadata, which a summary never names
# (issue 15). Each bundle's row maps the model's field names, and the views read a mapping as they read one.
INBOX_RECEIPT = Bundle("receipt", *Receipt.__table__.c)
INBOX_DOCUMENT = Bundle("document", *(getattr(Document, name) for name in SUMMARY_FIELDS))


def inbox(session, actor, state, urgency, since, limit: int, cursor, now) -> dict:
    """The unit's receipts with document summaries, newest first (filters: state, urgency, since)."""
    caller = Caller.of(actor)
    query = select(INBOX_RECEIPT, INBOX_DOCUMENT).join(Document, Document.id == Receipt.document_id).where(
        Receipt.unit_code == caller.unit_code, Receipt.latest.is_(True))
    if state:
        query = query.where(Receipt.state == state)
    if urgency:
        query = query.where(Document.urgency == urgency)
    if since is not None:
        query = query.where(Receipt.delivered_at >= since)
    if cursor:
        anchor = session.get(Receipt, cursor)
        if anchor is None or anchor.unit_code != caller.unit_code:
            # a well-formed cursor naming no receipt of the unit: nothing there (404), as for any id
            raise NotFound(message="no page at this cursor (use the next_cursor of the previous page)")
        query = query.where(or_(Receipt.delivered_at < anchor.delivered_at,
                                (Receipt.delivered_at == anchor.delivered_at) & (Receipt.id > anchor.id)))
    rows = list(session.execute(query.order_by(Receipt.delivered_at.desc(), Receipt.id).limit(limit + 1)))
    items = [{**receipt_view(r._mapping, now), "document": summary(d._mapping)} for r, d in rows[:limit]]
    return {"items": items, "next_cursor": rows[limit - 1][0].id if len(rows) > limit else None}


def get_document(session, document_id, actor, now) -> dict:
    """Metadata for the sender (with its receipt matrix) or a recipient (with its own receipt)."""
    caller = Caller.of(actor)
    document = find_document(session, document_id)
    if document.issuer_code == caller.unit_code:
        rows = session.scalars(select(Receipt).where(Receipt.document_id == document.id)
                               .order_by(Receipt.role.desc(), Receipt.unit_code, Receipt.generation))
        return {**document_view(document), "receipts": [receipt_view(r, now) for r in rows]}
    receipt = my_receipt(session, document_id, caller)
    return {**document_view(document), "receipt": receipt_view(receipt, now)}


def _mark_read(session, receipt: Receipt, caller: Caller, document: Document, now) -> None:
    """The first read by the receiving unit (or first print) is its receipt time (003 §41)."""
    if receipt.first_read_at is not None:
        return
    receipt.first_read_at, receipt.first_read_by = now, caller.user_id
    if receipt.state == "delivered":
        receipt.state = "read"
    record(session, now, caller, "document_read", "receipt", receipt.id, document_id=document.id)
    session.emit("document_read", {**summary(document), "unit_code": receipt.unit_code, "receipt_id": receipt.id,
                                   "read_at": now.isoformat(), "read_by": caller.user_id}, at=now)


def download(session, document_id, part: str, actor, now) -> tuple[bytes, str, str]:
    """``(bytes, file name, media type)`` of ``manifest``, ``signature.p7s``, ``body`` or
    ``attachments/<n>``. The sender may download its own; a recipient's first download is its read."""
    caller = Caller.of(actor)
    document = find_document(session, document_id)
    if document.issuer_code != caller.unit_code:
        receipt = my_receipt(session, document_id, caller, lock=True)
        if receipt.state not in READABLE:
            raise InvalidReceiptState(message=f"the document is {receipt.state} for your unit")
        _mark_read(session, receipt, caller, document, now)
    if part == "manifest":
        return document.manifest, "manifest.json", "application/json"
    if part == "signature.p7s":
        if document.signature is None:
            raise NotFound(message="the document awaits its seal")
        return document.signature, "signature.p7s", "application/pkcs7-signature"
    if part == "body":
        return blobs.fetch(session, document.body_sha256), document.body_name, "application/octet-stream"
    if part.startswith("attachments/") and part[len("attachments/"):].isdigit():
        n = int(part[len("attachments/"):])
        attachment = next((a for a in document.attachments if a.position == n), None)
        if attachment is not None:
            return blobs.fetch(session, attachment.sha256), attachment.name, "application/octet-stream"
    raise NotFound(message=f"no part {part!r} of document {document_id!r}")


def _parts(session, document: Document) -> tuple[bytes, dict[str, bytes]]:
    """The stored body and attachments as they are now, to check against the sealed manifest."""
    return (blobs.fetch(session, document.body_sha256),
            {a.name: blobs.fetch(session, a.sha256) for a in document.attachments})


def _verified(session, document: Document, verifier) -> dict:
    body, attachments = _parts(session, document)
    result = verifier(document.manifest, document.signature, document.issuer_code, body, attachments)
    if not result["valid"]:
        raise SealInvalid(message=f"The document fails the seal check: {result['reason']}.",
                          fields={"reason": result["reason"]})
    return result


def sign_for(session, document_id, actor, verifier, now) -> dict:
    """签收: re-verify the seal over the stored manifest and parts; a failing document is refused
    (``SEAL_INVALID`` with the reason) and nothing changes."""
    caller = Caller.of(actor)
    _require_receiver(caller)
    receipt = my_receipt(session, document_id, caller, lock=True)
    if receipt.state == "signed":  # a retry (or a concurrent twin) of this very step: its answer again
        return receipt_view(receipt, now)
    require_open(receipt)
    if receipt.state not in OPEN:
        raise InvalidReceiptState(message=f"the receipt is {receipt.state}; only a delivered or read one is signed for")
    document = find_document(session, document_id)
    _verified(session, document, verifier)
    _mark_read(session, receipt, caller, document, now)
    receipt.state, receipt.signed_at = "signed", now
    receipt.signed_by, receipt.signed_by_proxy = caller.user_id, caller.proxy_user_id
    record(session, now, caller, "receipt_signed", "receipt", receipt.id, document_id=document.id)
    session.emit("receipt_signed", {**summary(document), "receipt": receipt_view(receipt)}, at=now)
    return receipt_view(receipt, now)


def register(session, document_id, request, actor, now) -> dict:
    """登记 with the unit's own registration number, after signing for it."""
    caller = Caller.of(actor)
    _require_receiver(caller)
    number = validated(RegistrationSchema(), request)["registration_number"]
    my_receipt(session, document_id, caller)
    # The document first, then the receipt (as recall and paper service do): two recipients
    # registering at once take turns, so the second one sees the first and completes the document.
    document = session.get(Document, document_id, with_for_update=True)
    receipt = my_receipt(session, document_id, caller, lock=True)
    if receipt.state == "registered" and receipt.registration_number == number:
        return receipt_view(receipt, now)  # a retry: registered once, answered again
    require_open(receipt)
    if receipt.state != "signed":
        raise InvalidReceiptState(message=f"the receipt is {receipt.state}; sign for it first")
    receipt.state, receipt.registered_at, receipt.registration_number = "registered", now, number
    receipt.registered_by, receipt.registered_by_proxy = caller.user_id, caller.proxy_user_id
    record(session, now, caller, "receipt_registered", "receipt", receipt.id, registration_number=number)
    session.emit("receipt_registered", {**summary(document), "receipt": receipt_view(receipt)}, at=now)
    complete_if_done(session, document, now)
    return receipt_view(receipt, now)


def return_document(session, document_id, request, actor, now) -> dict:
    """退回 with a mandatory reason, instead of signing for it (003 §39)."""
    caller = Caller.of(actor)
    _require_receiver(caller)
    reason = validated(ReasonSchema(), request)["reason"]
    receipt = my_receipt(session, document_id, caller, lock=True)
    if receipt.state == "returned" and receipt.return_reason == reason:
        return receipt_view(receipt, now)  # a retry: returned once, answered again
    require_open(receipt)
    if receipt.state not in OPEN:
        raise InvalidReceiptState(message=f"the receipt is {receipt.state}; only an unsigned one is returned")
    document = find_document(session, document_id)
    receipt.state, receipt.returned_at, receipt.return_reason = "returned", now, reason
    receipt.returned_by, receipt.returned_by_proxy = caller.user_id, caller.proxy_user_id
    record(session, now, caller, "document_returned", "receipt", receipt.id, reason=reason)
    session.emit("document_returned", {**summary(document), "receipt": receipt_view(receipt)}, at=now)
    return receipt_view(receipt, now)


def print_once(session, document_id, actor, key, stamper, now) -> dict:
    """Print one copy, once per ``Idempotency-Key``: a retry gets the same copy number and stamp and
    uses no second copy. The receipt is locked first, so a retry waits for the print it repeats
    and then finds its answer."""
    caller = Caller.of(actor)
    _require_receiver(caller)
    key = idempotency_key(key)
    receipt = my_receipt(session, document_id, caller, lock=True)
    request = {"document_id": document_id, "actor": actor}
    return once(session, "print_copy", key and f"{receipt.id}/{key}", request,
                lambda: print_copy(session, document_id, actor, stamper, now))


def print_copy(session, document_id, actor, stamper, now) -> dict:
    """Print one granted copy: the seal service verifies and stamps it (验证印章, print serial);
    refused past the grant. The first print, like the first read, is the receipt time.
    ``stamper(..., stamp_key=)``: the key names this copy of this receipt, so a stamp asked for
    again (the exchange's transaction undone after the seal service answered) is the same stamp."""
    caller = Caller.of(actor)
    _require_receiver(caller)
    receipt = my_receipt(session, document_id, caller, lock=True)
    if receipt.state not in READABLE:
        raise InvalidReceiptState(message=f"the receipt is {receipt.state}")
    require_open(receipt)
    if receipt.print_copies_used >= receipt.print_copies_granted:
        raise PrintNotGranted(message=f"{receipt.print_copies_granted} copies were granted and all are printed; "
                                      "ask the sender for more (print-requests)")
    document = find_document(session, document_id)
    body, attachments = _parts(session, document)
    stamped = stamper(document.manifest, document.signature, document.issuer_code, body, attachments,
                      stamp_key=f"{receipt.id}/{receipt.print_copies_used + 1}")
    if not stamped["valid"]:
        raise SealInvalid(message=f"The document fails the seal check: {stamped['reason']}.",
                          fields={"reason": stamped["reason"]})
    _mark_read(session, receipt, caller, document, now)
    receipt.print_copies_used += 1
    record(session, now, caller, "document_printed", "receipt", receipt.id, copy_number=receipt.print_copies_used,
           print_serial=stamped["stamp"]["print_serial"])
    return {"copy_number": receipt.print_copies_used,
            "copies_left": receipt.print_copies_granted - receipt.print_copies_used, "stamp": stamped["stamp"]}


def request_print_copies(session, document_id, request, actor, now) -> dict:
    """A receiving unit asks the sender for more printed copies (a print request)."""
    caller = Caller.of(actor)
    _require_receiver(caller)
    data = validated(PrintRequestSchema(), request)
    receipt = my_receipt(session, document_id, caller)
    require_open(receipt)
    row = PrintRequest(id=str(uuid.uuid4()), receipt_id=receipt.id, copies=data["copies"], reason=data["reason"],
                       state="pending", requested_at=now, requested_by=caller.user_id)
    session.add(row)
    record(session, now, caller, "print_copies_requested", "receipt", receipt.id, copies=data["copies"])
    return print_request_view(row, receipt)


def grant_print_request(session, document_id, request_id, actor, now) -> dict:
    """The sender grants a print request: its copies are added to the receipt's grant."""
    return _answer_print_request(session, document_id, request_id, "granted", actor, now)


def refuse_print_request(session, document_id, request_id, actor, now) -> dict:
    return _answer_print_request(session, document_id, request_id, "refused", actor, now)


def _answer_print_request(session, document_id, request_id, answer: str, actor, now) -> dict:
    caller = Caller.of(actor)
    document = sent_by_caller(session, document_id, caller)
    if not caller.has("clerk"):
        raise Forbidden(message="Only the sending unit's clerks answer print requests.")
    row = session.get(PrintRequest, request_id, with_for_update=True) if isinstance(request_id, str) else None
    receipt = session.get(Receipt, row.receipt_id, with_for_update=True) if row else None
    if row is None or receipt.document_id != document.id:
        raise NotFound(message=f"no print request {request_id!r}")
    if row.state != "pending":
        raise InvalidReceiptState(message=f"the request was already {row.state}")
    row.state, row.answered_at, row.answered_by = answer, now, caller.user_id
    if answer == "granted":
        receipt.print_copies_granted += row.copies
    record(session, now, caller, f"print_request_{row.state}", "receipt", receipt.id, copies=row.copies)
    return print_request_view(row, receipt)


def print_request_view(row: PrintRequest, receipt: Receipt) -> dict:
    return {"request_id": row.id, "unit_code": receipt.unit_code, "copies": row.copies, "reason": row.reason,
            "state": row.state, "requested_at": row.requested_at.isoformat(),
            "answered_at": row.answered_at.isoformat() if row.answered_at else None,
            "print_copies_granted": receipt.print_copies_granted}


def request_resend(session, document_id, request, actor, now) -> dict:
    """A failed receipt: ask the sender to send again (003 §42)."""
    caller = Caller.of(actor)
    _require_receiver(caller)
    reason = validated(ReasonSchema(), request)["reason"]
    receipt = my_receipt(session, document_id, caller)
    require_open(receipt)
    if receipt.state in ("registered", "recalled", "paper_served"):
        raise InvalidReceiptState(message=f"the receipt is {receipt.state}")
    row = ResendRequest(id=str(uuid.uuid4()), receipt_id=receipt.id, reason=reason, requested_at=now,
                        requested_by=caller.user_id)
    session.add(row)
    record(session, now, caller, "resend_requested", "receipt", receipt.id, reason=reason)
    session.emit("resend_requested", {**summary(find_document(session, document_id)), "unit_code": receipt.unit_code,
                                      "reason": reason}, at=now)
    return {"request_id": row.id, "unit_code": receipt.unit_code, "reason": reason,
            "requested_at": now.isoformat()}


def parse_since(value) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValidationFailed({"since": ["an RFC 3339 time with offset"]}) from None
    if moment.tzinfo is None:
        raise ValidationFailed({"since": ["an RFC 3339 time with offset"]})
    return moment
