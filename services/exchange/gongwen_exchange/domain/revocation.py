"""What the exchange does when a unit or a seal is revoked (撤销, 003 §10(二)).

A revoked unit's documents go as the revoking decision says (the registry's ``unit_revoked``):

- ``transfer``: each receipt the unit had not yet handled (delivered, read or signed, not
  registered) is re-addressed to the successor unit: a new receipt in the successor's inbox,
  linked to the old one (``resent_from``), with a new deadline counted from the transfer, as a
  resend's is (the successor could do nothing before), and the print copies the unit had left.
  If the successor already holds its own receipt of that document, nothing new is made. The old
  receipt is closed as ``transferred``.
- ``keep`` / ``archive``: those receipts are closed as ``kept`` / ``archived``: they stay with the
  unit's records, no longer run against their deadline and take no further step.

Either way no overdue alarm follows, and a document whose every receipt is now handled or closed
completes. Returned receipts wait for their sender, who can no longer resend to the revoked unit.

A revoked seal (the seal service's ``seal_revoked``): documents of its unit still awaiting their
seal under two-person custody can no longer be sealed with the approvals they waited for; they are
withdrawn (``recalled``), and the clerk sends again under the unit's new seal. Documents already
sent keep verifying: the seal service judges a signature by the time it was made.
"""
from sqlalchemy import select

from ..models import Document, Receipt
from .documents import complete_if_done, new_receipt, receipt_brief, record, summary

UNHANDLED = ("delivered", "read", "signed")
CLOSING = {"keep": "kept", "archive": "archived", "transfer": "transferred"}
REGISTRY, SEAL_SERVICE = "registry", "seal"  # who acts, in the audit trail: the decision carried out


def carry_out_unit_revocation(session, data: dict, revoked_at, policy, calendar, now) -> int:
    """Apply the revoking decision to the unit's unhandled receipts; the number of receipts closed.

    Documents are locked before receipts, in the order registration takes them."""
    unit = data.get("unit") if isinstance(data.get("unit"), dict) else {}
    code, decision, successor = unit.get("code"), data.get("documents"), data.get("successor_code")
    if not isinstance(code, str) or decision not in CLOSING:
        return 0
    if decision == "transfer" and not isinstance(successor, str):
        decision = "keep"  # nobody to transfer to: the registry refuses this, an old event may not
    unhandled = select(Receipt.document_id).where(Receipt.unit_code == code, Receipt.latest.is_(True),
                                                  Receipt.state.in_(UNHANDLED), Receipt.closed_at.is_(None))
    closed = 0
    for document_id in sorted(set(session.scalars(unhandled))):
        document = session.get(Document, document_id, with_for_update=True, populate_existing=True)
        receipts = {r.unit_code: r for r in session.scalars(
            select(Receipt).where(Receipt.document_id == document_id, Receipt.latest.is_(True))
            .with_for_update().execution_options(populate_existing=True))}
        receipt = receipts.get(code)
        if receipt is None or receipt.state not in UNHANDLED or receipt.closed_at is not None:
            continue  # handled meanwhile
        receipt.closed_at, receipt.closed_reason = revoked_at, CLOSING[decision]
        closed += 1
        if decision == "transfer":
            _transfer(session, document, receipt, successor, receipts.get(successor), policy, calendar, now)
        else:
            record(session, now, REGISTRY, f"receipt_{CLOSING[decision]}", "receipt", receipt.id,
                   unit_code=code, reason="unit_revoked")
        session.emit("receipt_closed", {**summary(document), "unit_code": code, "receipt_id": receipt.id,
                                        "closed_reason": receipt.closed_reason, "successor_code": successor
                                        if decision == "transfer" else None}, at=now)
        complete_if_done(session, document, now)
    return closed


def _transfer(session, document, receipt, successor, successors_own, policy, calendar, now) -> None:
    receipt.latest = False
    if successors_own is not None:  # the successor received the document itself: one receipt is enough
        record(session, now, REGISTRY, "receipt_transferred", "receipt", receipt.id, unit_code=receipt.unit_code,
               successor_code=successor, successor_receipt_id=successors_own.id)
        return
    moved = new_receipt(document, successor, receipt.role, 1, receipt.id,
                        max(receipt.print_copies_granted - receipt.print_copies_used, 0),
                        policy.due_at(now, document.urgency, calendar), now)
    session.add(moved)
    session.flush()
    record(session, now, REGISTRY, "receipt_transferred", "receipt", receipt.id, unit_code=receipt.unit_code,
           successor_code=successor, successor_receipt_id=moved.id)
    # As a resend is: the successor's clerks are told of a document in their inbox.
    session.emit("document_sent", {**summary(document), "transferred_from": receipt.unit_code,
                                    "receipts": [receipt_brief(moved)]}, at=now)


def withdraw_awaiting_seal(session, data: dict, revoked_at, now) -> list[str]:
    """Withdraw the unit's documents that awaited this seal (sent before it was revoked)."""
    code = data.get("unit_code")
    if not isinstance(code, str):
        return []
    waiting = session.scalars(select(Document).where(Document.issuer_code == code, Document.status == "awaiting_seal",
                                                     Document.sent_at <= revoked_at)
                              .order_by(Document.id).with_for_update().execution_options(populate_existing=True))
    withdrawn = []
    for document in waiting:
        document.status, document.recalled_at, document.recalled_by = "recalled", now, SEAL_SERVICE
        record(session, now, SEAL_SERVICE, "document_recalled", "document", document.id, reason="seal_revoked",
               seal_serial=data.get("serial"))
        session.emit("document_recalled", {**summary(document), "unit_codes": [], "reason": "seal_revoked"}, at=now)
        withdrawn.append(document.id)
    return withdrawn
