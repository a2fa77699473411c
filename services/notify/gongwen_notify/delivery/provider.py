"""Twilio through its own client (``twilio.rest.Client``): send, look up, fetch — and every failure
sorted into what delivery must do about it.

- :class:`Rejected`: Twilio refused the request for good (a 4xx with an error code: 21211 invalid
  number, 21610 unsubscribed, …): never retried.
- :class:`Unavailable`: try again later. ``ambiguous`` when Twilio may have accepted the message
  although we did not hear so (a timeout, a lost connection, a 5xx): then the message is looked up
  before it is ever sent again, because Twilio's Messages API has no idempotency key.

The client is pointed at another server (the fake) by its own ``Domain.base_url``; nothing else
differs from Twilio."""
import logging
import re
from dataclasses import dataclass
from datetime import datetime

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from gongwen_common.phones import masked

from . import text_of
from .settings import DeliverySettings

log = logging.getLogger(__name__)
# The client logs each request's query at INFO, a lookup's full To number with it: numbers are masked
# in our logs, so its lines are kept only from WARNING up.
_client_log = logging.getLogger(f"{__name__}.twilio_client")
_client_log.setLevel(logging.WARNING)

# Twilio's statuses in ours (``models.MESSAGE_STATUSES``): ``sending`` is "Twilio has it, not yet sent".
SMS_STATUSES = {"queued": "sending", "accepted": "sending", "scheduled": "sending", "sending": "sending",
                "sent": "sent", "delivered": "delivered", "read": "delivered", "partially_delivered": "undelivered",
                "undelivered": "undelivered", "failed": "failed", "canceled": "failed"}
CALL_STATUSES = {"queued": "sending", "initiated": "sending", "ringing": "sent", "in-progress": "sent",
                 "completed": "delivered", "busy": "undelivered", "no-answer": "undelivered", "failed": "failed",
                 "canceled": "failed"}
RETRYABLE_CLIENT_ERRORS = {401, 403, 404, 408, 409, 429}  # our config or Twilio's rate: not the message's fault


def _scrubbed(text) -> str:
    """Twilio's error texts name the number ("The 'To' number +86… is not valid"): masked, as in logs."""
    return re.sub(r"\+?\d{7,15}", lambda found: masked(found.group()), str(text or ""))


class Rejected(Exception):
    def __init__(self, code, message):
        super().__init__(_scrubbed(message))
        self.code, self.message = str(code), _scrubbed(message)


class Unavailable(Exception):
    def __init__(self, code, message, ambiguous, retry_after=None):
        super().__init__(_scrubbed(message))
        self.code, self.message, self.ambiguous, self.retry_after = str(code), _scrubbed(message), ambiguous, \
            retry_after


@dataclass(frozen=True)
class Outcome:
    """What Twilio says of one message or call."""
    sid: str
    status: str  # ours
    segments: int | None = None
    price: str | None = None
    price_unit: str | None = None
    error_code: str | None = None
    error_message: str | None = None


def twiml_of(message) -> str:
    """A voice call reads the body in Mandarin, twice (a listener may miss the start)."""
    response = VoiceResponse()
    response.say(message.body, language="cmn-CN")
    response.pause(length=1)
    response.say(message.body, language="cmn-CN")
    return str(response)


def _outcome(resource, channel) -> Outcome:
    statuses = SMS_STATUSES if channel == "sms" else CALL_STATUSES
    segments = getattr(resource, "num_segments", None)
    error = getattr(resource, "error_code", None)
    return Outcome(sid=resource.sid, status=statuses.get(str(resource.status), "sending"),
                   segments=int(segments) if segments not in (None, "") else (None if channel == "sms" else 0),
                   price=resource.price, price_unit=resource.price_unit,
                   error_code=str(error) if error else None, error_message=getattr(resource, "error_message", None))


class TwilioProvider:
    def __init__(self, settings: DeliverySettings):
        self.settings = settings
        # No retries in the HTTP client: a blind retry of a create is how a message goes out twice.
        self.client = Client(settings.account_sid, settings.auth_token,
                             http_client=TwilioHttpClient(timeout=settings.timeout, max_retries=0,
                                                          logger=_client_log))
        if settings.api_base_url:
            self.client.api.base_url = settings.api_base_url

    @property
    def sender(self) -> dict:
        if self.settings.messaging_service_sid:
            return {"messaging_service_sid": self.settings.messaging_service_sid}
        return {"from_": self.settings.sender}

    def send(self, message, callback_url) -> Outcome:
        with _classified("create"):
            if message.channel == "sms":
                created = self.client.messages.create(to=message.to, body=text_of(message),
                                                      status_callback=callback_url, **self.sender)
            else:
                created = self.client.calls.create(to=message.to, from_=self.settings.sender, twiml=twiml_of(message),
                                                   status_callback=callback_url,
                                                   status_callback_event=["initiated", "ringing", "answered",
                                                                          "completed"])
        return _outcome(created, message.channel)

    def find(self, message, taken_sids=frozenset()) -> Outcome | None:
        """The message at Twilio if an earlier attempt reached it. SMS: listed by ``To`` and date sent
        (since the message was queued), then the recent ones not yet sent (no date to filter on), matched
        by the reference in the text. Calls carry no text: a call to the number from our sender created
        since the message was queued and not already another message's."""
        with _classified("lookup"):
            if message.channel == "sms":
                mark = f"[{message.reference}]"
                since = datetime.combine(message.created_at.date(), datetime.min.time())
                for listing in (lambda: self.client.messages.list(to=message.to, date_sent_after=since, limit=100),
                                lambda: self.client.messages.list(to=message.to, limit=50)):
                    for found in listing():
                        if mark in (found.body or ""):
                            return _outcome(found, "sms")
                return None
            for found in self.client.calls.list(to=message.to, limit=50):
                if (found.sid not in taken_sids and found.date_created and found._from == self.settings.sender
                        and found.date_created >= message.created_at.replace(microsecond=0)):
                    return _outcome(found, "voice")
            return None

    def fetch(self, channel, sid) -> Outcome:
        with _classified("fetch"):
            resource = (self.client.messages(sid) if channel == "sms" else self.client.calls(sid)).fetch()
        return _outcome(resource, channel)


class _classified:
    """Turns whatever the client raises into Rejected or Unavailable."""

    def __init__(self, what):
        self.what = what

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None:
            return False
        if isinstance(exc, TwilioRestException):
            status = int(exc.status or 0)
            code = exc.code or status
            if status >= 500:
                raise Unavailable(code, exc.msg, ambiguous=True) from exc
            if status in RETRYABLE_CLIENT_ERRORS:
                raise Unavailable(code, exc.msg, ambiguous=False, retry_after=1.0 if status == 429 else None) from exc
            raise Rejected(code, exc.msg) from exc
        if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ConnectTimeout) and \
                "Connection refused" in str(exc):
            raise Unavailable("CONNECTION_REFUSED", f"{self.what}: connection refused", ambiguous=False) from exc
        if isinstance(exc, requests.Timeout):
            raise Unavailable("TIMEOUT", f"{self.what} timed out", ambiguous=True) from exc
        if isinstance(exc, (requests.RequestException, TwilioException, OSError)):
            raise Unavailable("CONNECTION", f"{self.what}: {type(exc).__name__}", ambiguous=True) from exc
        return False
