"""From notifications to messages, under the carriers' rules as policy: only approved templates;
a person's reminders held for the combine window go out as one SMS listing the documents; the
same text to one number at most ``same_text_per_day`` times in 24 hours; a daily cap per number.
Urgent alerts and calls go at once, each on its own. A notification that may not be sent is
``skipped`` with the reason, which the document's notifications show."""
from datetime import timedelta

from sqlalchemy import func, select

from ..delivery import queue_message
from ..models import Message, Notification, Person, TrackedDocument, TrackedReceipt, UnitView
from . import people, proof, templates, texts
from .settings import NotifySettings

DAY = timedelta(hours=24)


def ready_people(session, now, limit: int) -> list[Person]:
    """People with a notification ready to go, each locked for this transaction (skipped when
    another instance holds them, which then sends all of theirs)."""
    waiting = select(Notification.user_id).where(Notification.status == "pending", Notification.send_after <= now)
    return list(session.scalars(select(Person).where(Person.user_id.in_(waiting)).order_by(Person.user_id)
                                .limit(limit).with_for_update(skip_locked=True)))


def dispatch(session, now, settings: NotifySettings) -> int:
    """Queue the messages of every ready person; the number of messages queued."""
    queued = 0
    for person in ready_people(session, now, settings.batch_size):
        pending = list(session.scalars(select(Notification).where(
            Notification.user_id == person.user_id, Notification.status == "pending")
            .order_by(Notification.created_at, Notification.id).with_for_update()))
        at_once = [n for n in pending if n.urgent or n.channel != "sms"]
        held = [n for n in pending if n not in at_once]
        for notification in at_once:
            if notification.send_after <= now:
                queued += _send(session, person, [notification], now, settings)
        # The held reminders go together once the earliest has waited out the window.
        if held and min(n.send_after for n in held) <= now:
            queued += _send(session, person, held, now, settings)
    return queued


def _skip(session, notifications, reason, now) -> int:
    for notification in notifications:
        notification.status, notification.reason = "skipped", reason
    proof.publish_status(session, None, now, notifications=notifications)
    return 0


def _send(session, person: Person, notifications: list[Notification], now, settings) -> int:
    ok, why = people.reachable(person)
    if not ok:
        return _skip(session, notifications, why, now)
    if not people.sms_enabled(session, person.unit_code):
        return _skip(session, notifications, "sms_not_enabled", now)
    first = notifications[0]
    body = _text(session, notifications, settings)
    if body is None:
        return _skip(session, notifications, "template_not_approved", now)
    number = person.mobile
    recent = select(func.count()).select_from(Message).where(Message.to == number, Message.created_at > now - DAY)
    if session.scalar(recent) >= settings.daily_cap:
        return _skip(session, notifications, "daily_cap", now)
    if session.scalar(recent.where(Message.body == body)) >= settings.same_text_per_day:
        return _skip(session, notifications, "same_text_limit", now)
    documents = {n.document_id for n in notifications}
    queue_message(session, channel=first.channel, to=number, body=body, unit_code=person.unit_code,
                  now=now, document_id=first.document_id if len(documents) == 1 else None,
                  user_id=person.user_id, notifications=notifications)
    session.flush()
    return 1


def _facts(session, notification: Notification, settings) -> texts.DocumentFacts:
    document = session.get(TrackedDocument, notification.document_id)
    receipt_due = session.scalar(select(TrackedReceipt.due_at).where(
        TrackedReceipt.document_id == document.id, TrackedReceipt.unit_code == notification.unit_code)
        .order_by(TrackedReceipt.due_at.desc()).limit(1))
    return texts.DocumentFacts(sender=_unit_name(session, document.issuer_code),
                               recipient=_unit_name(session, notification.unit_code),
                               doc_number=document.doc_number, title=document.title, urgency=document.urgency,
                               due_at=receipt_due or document.sent_at,
                               link=settings.link_base_url + (document.link_code or document.id))


def _unit_name(session, code) -> str:
    unit = session.get(UnitView, code)
    return unit.name if unit is not None else code


def _text(session, notifications: list[Notification], settings: NotifySettings) -> str | None:
    """The text of one message, title(s) cut to the segment budget; None if a template it needs
    is not approved."""
    first = notifications[0]
    documents = list(dict.fromkeys(n.document_id for n in notifications))
    if len(documents) == 1:
        template = templates.approved_text(session, first.template, settings)
        if template is None:
            return None
        values = _facts(session, first, settings).values(settings.timezone)
        return texts.fit(template, values, texts.capacity(settings.segment_budget) - settings.reserved_units)
    outer = templates.approved_text(session, "combined", settings)
    item = templates.approved_text(session, "combined_item", settings)
    if outer is None or item is None:
        return None
    facts = [_facts(session, next(n for n in notifications if n.document_id == d), settings) for d in documents]
    values = {"count": len(facts), "link": settings.link_base_url}
    room = texts.capacity(settings.segment_budget) - settings.reserved_units \
        - texts.units(outer.format(**values, items=""))
    share = max(room // len(facts), 0)
    # Each document's line gets an equal share of the room (its title cut to fit; 1: the separator).
    items = [texts.fit(item, f.values(settings.timezone), share - 1) for f in facts]
    return outer.format(**values, items="；".join(items))
