"""Escalation (催办): the exchange's events become steps due at a time, a timer fires each step
once, and whatever closes a receipt (signed, returned, served on paper, recalled, completed,
closed with its unit) cancels what is still pending for it.

Steps ``from: sent`` are scheduled when the document is sent (urgent ones ``after: 0`` at once;
a resend schedules for the new receipts only); steps ``from: due`` when the exchange announces
the receipt overdue. Quiet hours defer a normal document's steps, never an urgent one's.

Firing is two short transactions, as the outbox relay publishes: a claim of due rows with a
lease (``gongwen_common.claims``, ``FOR UPDATE SKIP LOCKED``), committed; then each step, locked
again and fired only if it is still pending and still ours, its notifications written in the
same transaction that marks it fired. A crash between the two leaves the claim to run out and
another instance (or this one restarted) to fire the step: never lost, never twice."""
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update

from gongwen_common import claims, faults
from gongwen_common.db import insert_new, insert_new_rows

from ..delivery import new_reference
from ..models import EscalationStep, Notification, Person, TrackedDocument, TrackedReceipt
from . import people, proof
from .policies import defer_past_quiet_hours, effective_policies, effective_policy
from .settings import NotifySettings, duration

CLOSING_RECEIPT = {"receipt_signed": "signed", "document_returned": "returned",
                   "receipt_paper_served": "paper_served", "receipt_closed": "unit_revoked"}
# A short link's code: 12 of 32 symbols, 60 bits, so that nobody finds a live link by guessing
# (the column holds 12; delivery's message references are 8: they are no key to anything).
LINK_CODE_CHARS = 12
CLOSING_DOCUMENT = {"document_recalled": "recalled", "document_completed": "completed"}


def _time(value, fallback: datetime) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return fallback
    return moment if moment.tzinfo is not None else fallback


def document_sent(session, data: dict, at: datetime, settings: NotifySettings) -> int:
    """Follow the document and schedule each new receipt's ``from: sent`` steps; the number made."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        return 0
    document = session.get(TrackedDocument, data["id"], with_for_update=True)
    if document is None:
        document = TrackedDocument(id=data["id"], sent_at=_time(data.get("sent_at"), at))
        session.add(document)
    document.issuer_code = data.get("issuer_code") or document.issuer_code
    document.doc_number = data.get("doc_number") or document.doc_number or ""
    document.title = data.get("title") or document.title or ""
    document.urgency = data.get("urgency") or document.urgency or "normal"
    document.link_code = document.link_code or new_reference(LINK_CODE_CHARS)
    if data.get("resend") and document.closed_reason == "completed":  # a resend reopens a completed document
        document.closed_at = document.closed_reason = None
    # One statement for every receipt of the fan-out; those already tracked (a resend's earlier
    # receipts, or one closed ahead of this event) are not inserted and get no steps.
    rows = {brief["receipt_id"]: {"receipt_id": brief["receipt_id"], "document_id": document.id,
                                  "unit_code": brief.get("unit_code"), "due_at": _time(brief.get("due_at"), at)}
            for brief in data.get("receipts") or []
            if isinstance(brief, dict) and isinstance(brief.get("receipt_id"), str)}
    new = insert_new_rows(session, TrackedReceipt, list(rows.values()))
    if document.closed_at is not None:
        return 0
    fresh = [TrackedReceipt(**row) for receipt_id, row in rows.items() if receipt_id in new]
    policies = effective_policies(session, {r.unit_code for r in fresh}, document.urgency, settings)
    return sum(_schedule(session, document, r, "sent", at, settings, policies[r.unit_code], fresh=True)
               for r in fresh)


def receipt_overdue(session, data: dict, at: datetime, settings: NotifySettings) -> int:
    """Schedule the overdue receipt's ``from: due`` steps."""
    receipt = session.get(TrackedReceipt, data.get("receipt_id")) if isinstance(data.get("receipt_id"), str) else None
    if receipt is None or receipt.closed_at is not None:
        return 0
    document = session.get(TrackedDocument, receipt.document_id)
    if document is None or document.closed_at is not None:
        return 0
    return _schedule(session, document, receipt, "due", receipt.due_at, settings)


def _template_of(step: dict, urgent: bool) -> str:
    if step.get("template"):
        return step["template"]
    if step["channel"] == "voice":
        return "voice"
    if step["audience"] == "sender_clerks":
        return "chase"
    return "urgent_alert" if urgent and step["from_"] == "sent" else "reminder"


def _schedule(session, document, receipt, start: str, base: datetime, settings, policy=None, fresh=False) -> int:
    """``fresh``: the receipt was tracked in this very transaction, so it has no steps yet."""
    urgent = document.urgency != "normal"
    if policy is None:
        policy = effective_policy(session, receipt.unit_code, document.urgency, settings)
    made = 0
    for number, step in enumerate(policy["steps"], start=1):
        if step["from_"] != start:
            continue
        first = base + duration(step["after"])
        repeat = step.get("repeat") or {"every": "0s", "times": 0}
        for occurrence in range(repeat["times"] + 1):
            fire_at = first + duration(repeat["every"]) * occurrence
            if not urgent and policy.get("quiet_hours"):
                fire_at = defer_past_quiet_hours(fire_at, policy["quiet_hours"], settings)
            made += _add_step(session, document, receipt, number, occurrence, step, urgent, fire_at, fresh)
    return made


def _add_step(session, document, receipt, number, occurrence, step, urgent, fire_at, fresh=False) -> int:
    if not fresh and session.scalar(select(EscalationStep.id).where(
            EscalationStep.receipt_id == receipt.receipt_id, EscalationStep.step == number,
            EscalationStep.occurrence == occurrence)) is not None:
        return 0
    session.add(EscalationStep(document_id=document.id, receipt_id=receipt.receipt_id, unit_code=receipt.unit_code,
                               step=number, occurrence=occurrence, audience=step["audience"],
                               channel=step["channel"], template=_template_of(step, urgent), urgent=urgent,
                               fire_at=fire_at, status="pending"))
    return 1


def close_receipt(session, event_type: str, data: dict, at: datetime) -> int:
    """A receipt signed, returned, served on paper or closed: its pending steps are cancelled."""
    receipt_id = (data.get("receipt") or {}).get("receipt_id") if isinstance(data.get("receipt"), dict) \
        else data.get("receipt_id")
    if not isinstance(receipt_id, str):
        return 0
    receipt = session.get(TrackedReceipt, receipt_id, with_for_update=True)
    if receipt is None:
        # Ahead of its document_sent (each event type has its own queue): remember the receipt
        # closed, so that document_sent schedules nothing for it.
        brief = data.get("receipt") if isinstance(data.get("receipt"), dict) else data
        insert_new(session, TrackedReceipt, receipt_id=receipt_id, document_id=str(data.get("id")),
                   unit_code=str(brief.get("unit_code")), due_at=_time(brief.get("due_at"), at),
                   closed_at=at, closed_reason=CLOSING_RECEIPT[event_type])
        return 0
    if receipt.closed_at is None:
        receipt.closed_at, receipt.closed_reason = at, CLOSING_RECEIPT[event_type]
    return _cancel(session, EscalationStep.receipt_id == receipt.receipt_id, at)


def close_document(session, event_type: str, data: dict, at: datetime) -> int:
    """A document recalled or completed: every pending step of it is cancelled."""
    if not isinstance(data.get("id"), str):
        return 0
    document = session.get(TrackedDocument, data["id"], with_for_update=True)
    if document is None:  # ahead of its document_sent: remembered closed, so nothing is scheduled
        document = TrackedDocument(id=data["id"], issuer_code=str(data.get("issuer_code")),
                                   doc_number=str(data.get("doc_number") or ""), title=str(data.get("title") or ""),
                                   urgency=str(data.get("urgency") or "normal"), sent_at=_time(data.get("sent_at"), at))
        session.add(document)
    document.closed_at, document.closed_reason = at, CLOSING_DOCUMENT[event_type]
    session.execute(update(TrackedReceipt).where(TrackedReceipt.document_id == document.id,
                                                 TrackedReceipt.closed_at.is_(None))
                    .values(closed_at=at, closed_reason=document.closed_reason))
    return _cancel(session, EscalationStep.document_id == document.id, at)


def _cancel(session, which, at) -> int:
    """Cancel pending steps (even one claimed right now: its firing finds it cancelled) and the
    notifications they made that are not yet queued (a reminder held for combining)."""
    steps = list(session.scalars(select(EscalationStep.id).where(which)))
    cancelled = session.execute(update(EscalationStep).where(which, EscalationStep.status == "pending")
                                .values(status="cancelled", cancelled_at=at)).rowcount
    if steps:
        held = list(session.scalars(select(Notification).where(Notification.step_id.in_(steps),
                                                               Notification.status == "pending")
                                    .order_by(Notification.created_at, Notification.id).with_for_update()
                                    .execution_options(populate_existing=True)))
        for notification in held:
            notification.status, notification.reason = "cancelled", "receipt_closed"
        proof.publish_status(session, None, at, notifications=held)
    return cancelled


# -- the timer ---------------------------------------------------------------------------------

def claim_due(session, now, by: str, settings: NotifySettings) -> list[int]:
    rows = claims.claim(session, EscalationStep, EscalationStep.status == "pending", EscalationStep.fire_at <= now,
                        now=now, until=now + settings.claim_lease, owner=by, limit=settings.batch_size,
                        order_by=(EscalationStep.fire_at,))
    return [row.id for row in rows]


def fire(session, step_id: int, by: str, now, settings: NotifySettings) -> int:
    """Fire one claimed step: a notification for each person of its audience (pending, or
    skipped with the reason); the number of notifications made. A step no longer pending or no
    longer ours (its lease ran out and another instance took it) is left alone."""
    step = session.get(EscalationStep, step_id, with_for_update=True, populate_existing=True)
    if step is None or step.status != "pending" or step.claimed_by != by:
        return 0
    document = session.get(TrackedDocument, step.document_id)
    receipt = session.get(TrackedReceipt, step.receipt_id)
    step.fired_at, step.claimed_by, step.claimed_until = now, None, None
    if document is None or receipt is None or document.closed_at is not None or receipt.closed_at is not None:
        step.status, step.cancelled_at = "cancelled", now
        return 0
    step.status = "fired"
    unit_code, targets = people.audience_of(session, step.audience, receipt.unit_code, document.issuer_code)
    hold = settings.combine_window if not step.urgent and step.channel == "sms" else timedelta(0)
    for role, user_id in targets:
        person = session.get(Person, user_id) if user_id else None
        status, reason = "pending", None
        if user_id is None:
            status, reason = "skipped", "no_contact_filed"
        elif not people.sms_enabled(session, unit_code):
            status, reason = "skipped", "sms_not_enabled"
        else:
            ok, why = people.reachable(person)
            if not ok:
                status, reason = "skipped", why
        notification = Notification(id=str(uuid.uuid4()), document_id=document.id, unit_code=receipt.unit_code,
                                    step_id=step.id, step=step.step, user_id=user_id, role=role,
                                    channel=step.channel,
                                    to=person.mobile if person is not None and status == "pending" else None,
                                    template=step.template, urgent=step.urgent, status=status, reason=reason,
                                    created_at=now, send_after=now + hold)
        session.add(notification)
        if status == "skipped":
            proof.publish_status(session, None, now, notifications=[notification])
    return len(targets)


def tick(session, now, by: str, settings: NotifySettings, dispatch) -> dict:
    """One run of the timer: claim due steps (committed), fire each in its own transaction, then
    dispatch what is ready to be sent. ``dispatch(session, now)`` queues messages."""
    claimed = claim_due(session, now, by, settings)
    session.commit()
    fired = 0
    for step_id in claimed:
        faults.hit("notify.step.after_claim")
        fired += fire(session, step_id, by, now, settings)
        session.commit()
    queued = dispatch(session, now)
    session.commit()
    return {"claimed": len(claimed), "notifications": fired, "messages": queued}
