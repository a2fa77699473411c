"""The proof of 001 §21: for a document, who was told, when, by which channel, and the outcome,
so that whose fault a delay was can be decided. The sender sees every recipient unit's; a
recipient unit its own (not the sender's own chasing); anyone else is told there is no such
document. notify decides this itself: ``document_sent`` told it the sender and the recipients.

Each status a notification takes (``skipped``, ``cancelled``, then its message's ``queued``,
``sent``, ``delivered``, ``undelivered``, ``failed``) is also an event, ``message_status``, in
the transaction that changes it: the archive's ledger keeps every SMS and call with its outcome,
and its supervision reports judge whose fault a late urgent receipt was from those lines. The
archive's package of a document takes the whole list (:func:`evidence`, every unit's)."""
from sqlalchemy import select

from gongwen_common.audit import Caller
from gongwen_common.errors import NotFound

from ..models import Message, Notification, TrackedDocument, TrackedReceipt
from .people import mask

# The message's own statuses as the API names them (``sending`` is still ``queued`` to a reader).
_STATUS = {"sending": "queued"}


def _iso(moment):
    return moment.isoformat() if moment else None


def public_status(status: str | None) -> str | None:
    return _STATUS.get(status, status)


def _document(session, document_id) -> TrackedDocument:
    document = session.get(TrackedDocument, document_id) if isinstance(document_id, str) else None
    if document is None:
        raise NotFound(message=f"no document {document_id!r}")
    return document


def _listing(document: TrackedDocument):
    return select(Notification, Message).outerjoin(Message, Message.id == Notification.message_id) \
        .where(Notification.document_id == document.id).order_by(Notification.created_at, Notification.id)


def notifications(session, document_id, actor) -> dict:
    caller = Caller.of(actor)
    document = _document(session, document_id)
    query = _listing(document)
    if not (caller.is_operator or caller.unit_code == document.issuer_code):
        recipients = set(session.scalars(select(TrackedReceipt.unit_code)
                                         .where(TrackedReceipt.document_id == document.id)))
        if caller.unit_code is None or caller.unit_code not in recipients:
            raise NotFound(message=f"no document {document_id!r}")  # existence does not leak
        query = query.where(Notification.unit_code == caller.unit_code, Notification.role != "sender_clerk")
    return {"items": [view(notification, message) for notification, message in session.execute(query)]}


def evidence(session, document_id) -> dict:
    """Every unit's notifications of the document, for its archival package (service to service:
    the archive asks, no user). ``settled``: no message is still on its way, so a status may yet
    change only by a late callback."""
    items = [view(notification, message) for notification, message in session.execute(_listing(_document(
        session, document_id)))]
    return {"document_id": document_id, "items": items,
            "settled": all(item["status"] not in ("pending", "queued", "sent") for item in items)}


def view(notification: Notification, message: Message | None) -> dict:
    line = {"id": notification.id, "unit_code": notification.unit_code, "user_id": notification.user_id,
            "role": notification.role, "channel": notification.channel, "to": mask(notification.to),
            "step": notification.step, "status": notification.status, "reason": notification.reason,
            "error_code": None, "created_at": notification.created_at.isoformat(), "sent_at": None,
            "delivered_at": None}
    if message is not None:
        line.update(status=public_status(message.status), error_code=message.error_code,
                    sent_at=_iso(message.sent_at), delivered_at=_iso(message.delivered_at))
    return line


# --- each status as an event ------------------------------------------------------------------------

def publish_status(session, message: Message | None, now, notifications=None) -> int:
    """One ``message_status`` event for the status ``message`` (or, without one, each notification)
    has just taken; the number emitted. A message carries the notifications that made it (a combined
    reminder, several documents'): one event for each, so each document's ledger holds the notice;
    a message no notification made (an operator's alert) is its own event."""
    if notifications is None:
        notifications = list(session.scalars(select(Notification).where(Notification.message_id == message.id)
                                             .order_by(Notification.created_at, Notification.id)))
    if message is not None and not notifications:
        session.emit("message_status", _status_data(session, None, message, now), at=now)
        return 1
    for notification in notifications:
        session.emit("message_status", _status_data(session, notification, message, now), at=now)
    return len(notifications)


def _status_data(session, notification: Notification | None, message: Message | None, now) -> dict:
    if notification is not None:
        data = view(notification, message)
        data["notification_id"] = data.pop("id")
        document = session.get(TrackedDocument, notification.document_id)
        # the sender sees every recipient's notifications (as in the list): its ledger entries too
        data.update(document_id=notification.document_id, issuer_code=document.issuer_code if document else None)
    else:  # a message of its own: who pays for it is whom it concerns
        data = {"notification_id": None, "document_id": message.document_id, "unit_code": message.unit_code,
                "user_id": message.user_id, "role": None, "channel": message.channel, "to": mask(message.to),
                "step": None, "status": public_status(message.status), "reason": None,
                "error_code": message.error_code, "created_at": message.created_at.isoformat(),
                "sent_at": _iso(message.sent_at), "delivered_at": _iso(message.delivered_at)}
    data.update(message_id=message.id if message is not None else None, at=now.isoformat(),
                price=message.price if message is not None else None,
                price_unit=message.price_unit if message is not None else None)
    return data


def resolve_link(session, code, now=None, ttl=None) -> dict:
    """The document a text's short link names (``NOTIFY_LINK_BASE_URL`` + code): for the redirect
    the gateway serves at that base URL (``GET /l/<code>``). The link grants nothing: reading the
    document still needs a signed-in user who may see it. A link ``ttl`` past the send has expired:
    the same answer as an unknown code, so nobody learns which codes once were."""
    document = session.scalar(select(TrackedDocument).where(TrackedDocument.link_code == code)) \
        if isinstance(code, str) else None
    if document is None or (now is not None and ttl is not None and document.sent_at + ttl <= now):
        raise NotFound(message="no such link")
    return {"document_id": document.id}
