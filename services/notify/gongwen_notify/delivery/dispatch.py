"""Sending recorded messages to Twilio effectively once, and keeping their status true.

1. **claim** (a short transaction, ``gongwen_common.claims``): due ``queued`` messages that Twilio
   does not have yet; each claimed message is marked ``ambiguous`` *before* any call, so a crash
   from here on leaves the mark for whoever claims it next (the claim's lease runs out);
2. **send** outside any transaction, paced to the sender's rate: a message marked ambiguous by an
   earlier attempt is first looked up at Twilio (by number and date, matched by its reference), and
   sent only if Twilio does not have it;
3. **settle** each message as its answer comes (a transaction each, only while the claim is still
   ours): accepted → Twilio's id; refused for good → ``failed`` and ``sms_failed`` (never retried);
   a temporary failure → again later with backoff, still marked ambiguous if Twilio may have it.

Statuses only move forward (:func:`advance`): a late ``sent`` never overwrites ``delivered``, from a
callback or from :meth:`Dispatcher.reconcile`, which fetches messages whose callback never came.
Each move a reader sees is one ``message_status`` event (:func:`move`); a callback that moves
nothing emits nothing."""
import logging
import math
import os
import socket
import time
import uuid
from datetime import timedelta

import eventlet
from sqlalchemy import and_, or_, select

from gongwen_common import claims, faults
from gongwen_common.phones import masked

from ..domain import proof
from ..models import Message
from .provider import CALL_STATUSES, SMS_STATUSES, Outcome, Rejected, TwilioProvider, Unavailable

log = logging.getLogger(__name__)

RANK = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "undelivered": 3, "failed": 3}
FINAL = {"delivered", "undelivered", "failed"}
RATE_LIMITED = {"20429", "429"}  # Twilio's "too many requests": refused before anything was accepted
PRICE_WAIT = timedelta(days=1)  # how long a final message is fetched again for the price Twilio reports


def advance(session, message: Message, outcome: Outcome, now) -> bool:
    """Apply what Twilio says of ``message``, forward only; True if its status moved. A message that
    ends undelivered or failed tells its unit (``sms_failed``), once."""
    if message.provider_sid is None:
        message.provider_sid = outcome.sid
    if outcome.segments is not None:
        message.segments = outcome.segments
    if outcome.price is not None:
        message.price, message.price_unit = outcome.price, outcome.price_unit
    if RANK.get(outcome.status, 0) <= RANK[message.status]:
        return False
    if outcome.status in ("undelivered", "failed"):
        message.error_code = outcome.error_code or message.error_code
        message.error_message = outcome.error_message or message.error_message
    if message.sent_at is None:
        message.sent_at = now
    move(session, message, outcome.status, now)
    log.info("%s %s to %s: %s", message.channel, message.reference, masked(message.to), message.status,
             extra={"message_id": message.id})
    return True


def move(session, message: Message, status: str, now) -> None:
    """``message`` takes ``status`` (forward: the caller checked), with its times; each status a reader
    sees (``sending`` reads as ``queued``) is a ``message_status`` event in this transaction, and one
    that ends undelivered or failed tells its unit (``sms_failed``)."""
    shown = proof.public_status(message.status)
    message.status, message.status_at = status, now
    if status == "delivered":
        message.delivered_at = now
    if proof.public_status(status) != shown:
        proof.publish_status(session, message, now)
    if status in ("undelivered", "failed"):
        report_failure(session, message, now)


def report_failure(session, message: Message, now) -> None:
    """The unit pays for and answers for its SMS: its admin hears of each that failed (the event) and
    its SMS log (``GET /units/{code}/sms``) shows the error."""
    session.emit("sms_failed", {
        "message_id": message.id, "reference": message.reference, "channel": message.channel,
        "unit_code": message.unit_code, "document_id": message.document_id, "user_id": message.user_id,
        "to": masked(message.to), "status": message.status, "error_code": message.error_code,
        "error_message": message.error_message, "attempts": message.attempts, "at": now.isoformat()}, at=now)


class Pacer:
    """The sender's rate, for this process: each create waits for its slot (greenthreads share it).
    Slots missed by less than ``slack`` (a busy process wakes late) are still used, so hiccups do not
    lower the rate; Twilio's per-sender bucket (a second's worth) holds that much."""

    def __init__(self, rate: float, slack: float = 0.5):
        self.interval = 1.0 / rate if rate and rate > 0 else 0.0
        # whole slots only, one fewer than half a second holds: a slow rate gets none (no burst beyond it)
        self.slack = max(0, math.floor(rate * slack) - 1) * self.interval if self.interval else 0.0
        self.next_slot = 0.0

    def wait(self):
        if not self.interval:
            return
        now = time.monotonic()
        slot = max(now - self.slack, self.next_slot)
        self.next_slot = slot + self.interval
        if slot > now:
            eventlet.sleep(slot - now)


class Dispatcher:
    def __init__(self, sessions, settings, clock, provider=None, owner=None):
        """``sessions()``: a new ``gongwen_common.db.Session`` (short transactions, never one held
        across a call to Twilio); ``clock()``: now."""
        self.sessions, self.settings, self.clock = sessions, settings, clock
        self.provider = provider or TwilioProvider(settings)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.pacer = Pacer(settings.send_rate)
        self.lease = timedelta(seconds=settings.lease)
        # Start no call that could outlast the claim (a lookup, then a create): after the lease the
        # message may be another instance's, which looks it up first — unless we are still talking.
        self.margin = min(timedelta(seconds=3 * settings.timeout), self.lease / 2)

    # -- sending --------------------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim and send until nothing is due; the number claimed. The next batch is claimed while
        the last sends of the one before are still out, so the sender's pace has no gaps."""
        pool, total = eventlet.GreenPool(max(1, self.settings.concurrency)), 0
        while True:
            claimed = self.claim()
            if claimed:
                faults.hit("delivery.after_claim")
            for message, look_up_first in claimed:
                pool.spawn_n(self.deliver, message, look_up_first)  # waits while the pool is full
            total += len(claimed)
            if len(claimed) < self.settings.batch:
                break
        pool.waitall()
        return total

    def claim(self) -> list[tuple[Message, bool]]:
        now = self.clock()
        with self.sessions() as session, session.begin():
            rows = claims.claim(session, Message, Message.status == "queued", Message.provider_sid.is_(None),
                                Message.next_attempt_at <= now, now=now, until=now + self.lease, owner=self.owner,
                                limit=self.settings.batch, order_by=(Message.next_attempt_at, Message.id))
            claimed = []
            for row in rows:
                claimed.append((row, bool(row.ambiguous)))
                row.ambiguous = True  # from now until a clear answer, Twilio may have it
            session.flush()
            session.expunge_all()
        return claimed

    def deliver(self, message: Message, look_up_first: bool) -> None:
        if self.clock() >= message.claimed_until - self.margin:
            return self.settle(message, None, untried_ambiguous=look_up_first)
        try:
            found = None
            if look_up_first:
                found = self.provider.find(message, taken_sids=self._taken_call_sids(message))
                if found:
                    log.info("%s %s to %s was already at Twilio: not sent again", message.channel,
                             message.reference, masked(message.to), extra={"message_id": message.id})
            if found is None:
                self.pacer.wait()
                if self.clock() >= message.claimed_until - timedelta(seconds=2 * self.settings.timeout):
                    # the lookup and the wait for our slot took the claim's time: not now
                    return self.settle(message, None, untried_ambiguous=look_up_first)
                faults.hit("delivery.before_send")
                found = self.provider.send(message, self.settings.callback_url(message.channel, message.id))
                faults.hit("delivery.after_send")
            self.settle(message, found)
        except (Rejected, Unavailable) as failure:
            self.settle(message, failure)
        except Exception as failure:  # a fault of ours: keep the message, as an ambiguous one
            log.exception("sending %s failed", message.reference, extra={"message_id": message.id})
            self.settle(message, Unavailable("INTERNAL", str(failure), ambiguous=True))

    def _taken_call_sids(self, message) -> frozenset:
        if message.channel != "voice":
            return frozenset()
        with self.sessions() as session:
            return frozenset(session.scalars(select(Message.provider_sid).where(
                Message.channel == "voice", Message.to == message.to, Message.provider_sid.is_not(None))))

    def settle(self, claimed: Message, answer, untried_ambiguous=False) -> None:
        """Record ``answer`` (an Outcome, Rejected or Unavailable; None: not tried, the claim given back)."""
        now = self.clock()
        with self.sessions() as session, session.begin():
            message = session.get(Message, claimed.id, with_for_update=True)
            if message.claimed_by != self.owner:
                log.warning("%s %s: the claim ran out before its answer (another instance has it)",
                            message.channel, message.reference, extra={"message_id": message.id})
                return
            message.claimed_by = message.claimed_until = None
            if answer is None:
                message.ambiguous = untried_ambiguous
                return
            rate_limited = isinstance(answer, Unavailable) and answer.code in RATE_LIMITED
            if not rate_limited:  # the sender's own pace, not the message's fault: no attempt spent
                message.attempts += 1
            if isinstance(answer, Outcome):
                message.ambiguous = False
                message.next_attempt_at = now + timedelta(seconds=self.settings.reconcile_after)
                advance(session, message, answer, now)
                if message.status in FINAL and message.price is not None:
                    message.next_attempt_at = None
                return
            if message.provider_sid is not None:  # a callback told us meanwhile: Twilio has it
                message.ambiguous = False
                return
            message.error_code, message.error_message = answer.code, answer.message
            if isinstance(answer, Rejected):
                message.ambiguous, message.next_attempt_at = False, None
                log.warning("%s %s to %s refused by Twilio (%s): not retried", message.channel, message.reference,
                            masked(message.to), answer.code, extra={"message_id": message.id})
                move(session, message, "failed", now)
                return
            message.ambiguous = answer.ambiguous
            if message.attempts >= self.settings.max_attempts:
                log.error("%s %s to %s: giving up after %d attempts (%s)", message.channel, message.reference,
                          masked(message.to), message.attempts, answer.code, extra={"message_id": message.id})
                message.next_attempt_at = None
                move(session, message, "failed", now)
                return
            delay = answer.retry_after if rate_limited else \
                min(self.settings.retry_base * 2 ** (message.attempts - 1), self.settings.retry_max)
            message.next_attempt_at = now + timedelta(seconds=max(delay, answer.retry_after or 0))
            log.warning("%s %s to %s: %s (%s), again in %.0fs", message.channel, message.reference, masked(message.to),
                        "no clear answer" if answer.ambiguous else "not accepted", answer.code, delay,
                        extra={"message_id": message.id})

    # -- status ---------------------------------------------------------------------------------

    def reconcile(self) -> int:
        """Fetch from Twilio the messages whose callback never came (still ``sending``/``sent`` after
        ``reconcile_after``) and the price of final ones that have none yet; the number fetched."""
        now = self.clock()
        with self.sessions() as session, session.begin():
            rows = claims.claim(
                session, Message, Message.provider_sid.is_not(None), Message.next_attempt_at <= now,
                or_(Message.status.in_(("sending", "sent")), and_(Message.status.in_(FINAL), Message.price.is_(None))),
                now=now, until=now + self.lease, owner=self.owner, limit=self.settings.batch,
                order_by=(Message.next_attempt_at, Message.id))
            session.flush()
            session.expunge_all()
        for claimed in rows:
            try:
                outcome = self.provider.fetch(claimed.channel, claimed.provider_sid)
            except (Rejected, Unavailable) as failure:
                log.warning("fetching %s failed: %s", claimed.reference, failure.code,
                            extra={"message_id": claimed.id})
                outcome = None
            with self.sessions() as session, session.begin():
                message = session.get(Message, claimed.id, with_for_update=True)
                if message.claimed_by != self.owner:
                    continue
                message.claimed_by = message.claimed_until = None
                if outcome is not None:
                    advance(session, message, outcome, now)
                done = message.status in FINAL and (message.price is not None or now - message.created_at > PRICE_WAIT)
                message.next_attempt_at = None if done else now + timedelta(seconds=self.settings.reconcile_after)
        return len(rows)


def apply_callback(session, message_id, channel, params, now, price_after=60.0) -> bool | None:
    """A signed status callback from Twilio; True if the message's status moved, None if there is no
    such message. The message is ours
    by the id in the signed URL; a callback for another Twilio id than the one we hold is ignored."""
    message = session.get(Message, message_id, with_for_update=True)
    if message is None or message.channel != channel:
        return None
    sid = params.get("MessageSid") or params.get("CallSid")
    if message.provider_sid is not None and sid != message.provider_sid:
        log.warning("callback for %s names %s, not the %s we hold: ignored", message.reference, sid,
                    message.provider_sid, extra={"message_id": message.id})
        return False
    statuses, status = (SMS_STATUSES, params.get("MessageStatus")) if channel == "sms" else \
        (CALL_STATUSES, params.get("CallStatus"))
    if status not in statuses or not sid:
        return False
    outcome = Outcome(sid=sid, status=statuses[status], error_code=params.get("ErrorCode"))
    moved = advance(session, message, outcome, now)
    if message.status in FINAL and message.price is None:
        message.next_attempt_at = now + timedelta(seconds=price_after)  # the price comes with a fetch only
    return moved
