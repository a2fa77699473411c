"""Delivery (送达): getting each recorded message to Twilio effectively once, and its status back.

The escalation side decides *what* to say to *whom*; it calls :func:`queue_message` inside its own
transaction, so the intent and the step that caused it commit together. Everything after that
(sending, retrying, looking up after an ambiguous failure, callbacks, reconciliation) is here."""
import secrets
import uuid

from ..domain import proof
from ..models import CHANNELS, Message

_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


REFERENCE_CHARS = 10  # what text_of adds to a body ("[" reference "]"): escalation budgets segments with it


def text_of(message) -> str:
    """The SMS text as sent: the body and the message's short reference, which finds it again at Twilio
    after an ambiguous failure (the Messages API has no idempotency key)."""
    return f"{message.body}[{message.reference}]"


def new_reference(length: int = 8) -> str:
    """A short code for the text and the callback URL: 8 characters of an unambiguous alphabet (32
    symbols, 5 bits each), drawn with ``secrets``; longer where it must not be guessed (a link)."""
    return "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(length))


def queue_message(session, *, channel, to, body, unit_code, now, document_id=None, user_id=None,
                  notifications=()) -> Message:
    """Record an SMS or call to be sent (status ``queued``); ``to`` is E.164; ``unit_code`` pays.
    ``notifications``: those it carries, queued with it; its ``message_status`` event says so."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    message = Message(id=str(uuid.uuid4()), reference=new_reference(), channel=channel, to=to, body=body,
                      unit_code=unit_code, document_id=document_id, user_id=user_id, status="queued",
                      attempts=0, next_attempt_at=now, created_at=now)
    session.add(message)
    for notification in notifications:
        notification.status, notification.message_id, notification.to = "queued", message.id, to
    proof.publish_status(session, message, now, notifications=list(notifications))
    return message
