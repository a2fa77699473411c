"""The proof of 001 §21: for a document, who was told, when, by which channel, and the outcome,
so that whose fault a delay was can be decided. The sender sees every recipient unit's; a
recipient unit its own (not the sender's own chasing); anyone else is told there is no such
document. notify decides this itself: ``document_sent`` told it the sender and the recipients."""
from sqlalchemy import select

from gongwen_common.audit import Caller
from gongwen_common.errors import NotFound

from ..models import Message, Notification, TrackedDocument, TrackedReceipt
from .people import mask

# The message's own statuses as the API names them (``sending`` is still ``queued`` to a reader).
_STATUS = {"sending": "queued"}


def _iso(moment):
    return moment.isoformat() if moment else None


def notifications(session, document_id, actor) -> dict:
    caller = Caller.of(actor)
    document = session.get(TrackedDocument, document_id) if isinstance(document_id, str) else None
    if document is None:
        raise NotFound(message=f"no document {document_id!r}")
    query = select(Notification, Message).outerjoin(Message, Message.id == Notification.message_id) \
        .where(Notification.document_id == document.id).order_by(Notification.created_at, Notification.id)
    if not (caller.is_operator or caller.unit_code == document.issuer_code):
        recipients = set(session.scalars(select(TrackedReceipt.unit_code)
                                         .where(TrackedReceipt.document_id == document.id)))
        if caller.unit_code is None or caller.unit_code not in recipients:
            raise NotFound(message=f"no document {document_id!r}")  # existence does not leak
        query = query.where(Notification.unit_code == caller.unit_code, Notification.role != "sender_clerk")
    return {"items": [_view(notification, message) for notification, message in session.execute(query)]}


def _view(notification: Notification, message: Message | None) -> dict:
    view = {"id": notification.id, "unit_code": notification.unit_code, "user_id": notification.user_id,
            "role": notification.role, "channel": notification.channel, "to": mask(notification.to),
            "step": notification.step, "status": notification.status, "reason": notification.reason,
            "error_code": None, "created_at": notification.created_at.isoformat(), "sent_at": None,
            "delivered_at": None}
    if message is not None:
        view.update(status=_STATUS.get(message.status, message.status), error_code=message.error_code,
                    sent_at=_iso(message.sent_at), delivered_at=_iso(message.delivered_at))
    return view


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
