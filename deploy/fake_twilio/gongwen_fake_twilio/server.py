"""The fake Twilio server: Messages and Calls of the 2010-04-01 API, as Twilio's OpenAPI
description (``twilio_api_v2010.json``) shapes them, plus ``/_control`` and ``/phones``.

Behaviour that matters to a sender, kept as Twilio has it:

- HTTP basic auth with the account SID and auth token (401, error 20003, otherwise);
- a create answers 201 with the resource in status ``queued`` (``accepted`` through a messaging
  service); the message then moves to ``sent`` (``date_sent`` and ``price`` set) and to its final
  status (``delivered``, or ``undelivered``/``failed`` with an ``error_code``), each change posted
  to the ``StatusCallback`` URL, form-encoded and signed with ``X-Twilio-Signature``;
- calls go ``queued`` → ``initiated`` → ``ringing`` → ``in-progress`` → ``completed`` (or ``busy``,
  ``no-answer``, ``failed``), posting only the events named in ``StatusCallbackEvent`` (default:
  ``completed``), as Twilio does;
- lists are newest first and paged (``PageSize``, ``Page``, ``PageToken``, ``next_page_uri``);
  ``DateSent``/``StartTime`` filters compare dates (GMT), so a message not yet sent has no
  ``date_sent`` and no date filter finds it;
- a per-sender rate: beyond it, 429 with error 20429 (nothing accepted);
- invalid or unsubscribed numbers: 400 with 21211 / 21610 (nothing accepted).

Faults on command (``POST /_control/faults``): the next creates answer 500, time out (the
connection hangs, then closes), are accepted but lose their response (``drop``, ``accept_500``,
``accept_timeout``); callbacks are late (``delay``), lost (``lose``) or held and released later in
any order (``hold`` and ``POST /_control/callbacks/release``). ``GET /_control/record`` is the
fake's own record (every create attempt and its outcome, every accepted message and call, every
callback posted) for tests to query."""
import base64
import heapq
import html
import itertools
import json
import logging
import math
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from .signature import twilio_signature

log = logging.getLogger("gongwen.fake_twilio")

API = "/2010-04-01"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
           "¿abcdefghijklmnopqrstuvwxyzäöñüà")
FINAL_MESSAGE = {"delivered", "undelivered", "failed"}
ERRORS = {
    20001: (400, "Invalid parameter"),
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "Internal Server Error"),
    21211: (400, "Invalid 'To' Phone Number"),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' or 'MessagingServiceSid' parameter is required to send a message"),
    21604: (400, "A 'To' phone number is required."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21205: (400, "Url or Twiml is required"),
}


def segments(body: str) -> int:
    """Segments as carriers count them: GSM-7 160 single / 153 per part, else UCS-2 70 / 67."""
    single, part = (160, 153) if set(body) <= GSM7 else (70, 67)
    return 1 if len(body) <= single else math.ceil(len(body) / part)


def rfc2822(moment: datetime | None) -> str | None:
    return format_datetime(moment) if moment else None


def sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def filter_date(value: str) -> date | None:
    """A ``DateSent``/``StartTime`` filter value (``YYYY-MM-DD`` or an ISO 8601 time) as a GMT date."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).date() \
            if "T" in value else date.fromisoformat(value)
    except ValueError:
        return None


class TwilioError(Exception):
    def __init__(self, code, message=None, headers=None):
        self.status, default = ERRORS.get(code, (400, "Bad request"))
        self.code, self.message, self.headers = code, message or default, headers or {}
        super().__init__(self.message)

    def body(self):
        return {"code": self.code, "message": self.message,
                "more_info": f"https://www.twilio.com/docs/errors/{self.code}", "status": self.status}


class Dropped(Exception):
    """The connection closes without an answer (after ``seconds``)."""

    def __init__(self, seconds=0.0):
        self.seconds = seconds


@dataclass
class Bucket:
    rate: float
    burst: float
    tokens: float
    at: float

    def take(self, now) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class Settings:
    rate: float | None = None        # creates per second per sender (From or MessagingServiceSid)
    burst: float | None = None       # bucket size; default: one second's worth
    sent_delay: float = 0.05         # seconds from accepted to sent
    final_delay: float = 0.15        # seconds from accepted to delivered (or the number's outcome)
    price_per_segment: str = "-0.05850"
    price_per_call: str = "-0.02800"
    price_unit: str = "USD"
    create_faults: list = field(default_factory=list)  # [{"kind", "count", "seconds"?}], consumed in order
    numbers: dict = field(default_factory=dict)        # E.164 → {"error": 21211} | {"status", "error_code"}
    callbacks: dict = field(default_factory=lambda: {"mode": "normal", "delay": 0.0})


class FakeTwilio:
    """The state behind the server; every method is called under ``self.lock`` or takes it."""

    def __init__(self, account_sid, auth_token, settings=None):
        self.account_sid, self.auth_token = account_sid, auth_token
        self.settings = settings or Settings()
        self.lock = threading.RLock()
        self.messages: dict[str, dict] = {}
        self.calls: dict[str, dict] = {}
        self.attempts: list[dict] = []
        self.callbacks: list[dict] = []
        self.held: list[tuple] = []
        self.buckets: dict[str, Bucket] = {}
        self._timers: list = []
        self._sequence = itertools.count()
        self._wakeup = threading.Condition(self.lock)
        self._posts: list = []
        self._posted = threading.Condition(threading.Lock())
        self.stopped = False

    # -- scheduling: state changes and callback posts ------------------------------------------

    def start(self, posters=4):
        threading.Thread(target=self._run_timers, daemon=True, name="fake-twilio-timers").start()
        for n in range(posters):
            threading.Thread(target=self._run_posts, daemon=True, name=f"fake-twilio-post-{n}").start()

    def stop(self):
        with self.lock:
            self.stopped = True
            self._wakeup.notify_all()
        with self._posted:
            self._posted.notify_all()

    def at(self, delay, action, *args):
        with self.lock:
            heapq.heappush(self._timers, (time.monotonic() + delay, next(self._sequence), action, args))
            self._wakeup.notify()

    def _run_timers(self):
        while True:
            with self.lock:
                while not self.stopped and (not self._timers or self._timers[0][0] > time.monotonic()):
                    self._wakeup.wait(self._timers[0][0] - time.monotonic() if self._timers else None)
                if self.stopped:
                    return
                _, _, action, args = heapq.heappop(self._timers)
                try:
                    action(*args)
                except Exception:  # one bad change must not stop every later one
                    log.exception("scheduled change failed")

    def _run_posts(self):
        while True:
            with self._posted:
                while not self.stopped and not self._posts:
                    self._posted.wait()
                if self.stopped:
                    return
                url, params = self._posts.pop(0)
            self._post(url, params)

    def callback(self, url, params):
        """A status change for ``url``: posted now, later, never, or held, as commanded."""
        if not url:
            return
        mode = self.settings.callbacks.get("mode", "normal")
        if mode == "lose":
            self.callbacks.append({"url": url, "params": params, "outcome": "lost", "at": time.time()})
        elif mode == "hold":
            self.held.append((url, params))
        elif mode == "delay":
            self.at(float(self.settings.callbacks.get("delay", 1.0)), self._queue_post, url, params)
        else:
            self._queue_post(url, params)

    def release(self, order="forward"):
        with self.lock:
            held, self.held = self.held, []
        for url, params in (reversed(held) if order == "reverse" else held):
            self._post(url, params)  # in this order, one after the other
        return len(held)

    def _queue_post(self, url, params):
        with self._posted:
            self._posts.append((url, params))
            self._posted.notify()

    def _post(self, url, params):
        signature = twilio_signature(self.auth_token, url, params)
        request = urllib.request.Request(url, data=urlencode(params).encode(), method="POST", headers={
            "X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1", "I-Twilio-Idempotency-Token": secrets.token_hex(16)})
        try:
            with urllib.request.urlopen(request, timeout=15) as reply:
                outcome = reply.status
        except urllib.error.HTTPError as err:
            outcome = err.code
        except OSError as err:
            outcome = f"error: {err}"
        with self.lock:
            self.callbacks.append({"url": url, "params": params, "outcome": outcome, "at": time.time()})

    # -- creating -----------------------------------------------------------------------------

    def _rate_check(self, sender):
        rate = self.settings.rate
        if not rate:
            return
        now = time.monotonic()
        burst = self.settings.burst or max(1.0, rate)
        bucket = self.buckets.setdefault(sender, Bucket(rate, burst, burst, now))
        bucket.rate, bucket.burst = rate, burst
        if not bucket.take(now):
            raise TwilioError(20429, headers={"Retry-After": "1"})

    def _next_fault(self):
        faults = self.settings.create_faults
        while faults:
            fault = faults[0]
            if fault.get("count", 1) <= 0:
                faults.pop(0)
                continue
            fault["count"] = fault.get("count", 1) - 1
            return fault
        return None

    def create(self, kind, form):
        """``kind`` "sms" or "call"; the resource, or TwilioError / Dropped after recording the attempt."""
        to, sender = form.get("To", ""), form.get("From") or form.get("MessagingServiceSid") or ""
        attempt = {"at": time.time(), "kind": kind, "to": to, "from": sender, "body": form.get("Body"),
                   "outcome": None, "sid": None}
        with self.lock:
            self.attempts.append(attempt)
            try:
                resource, after = self._create(kind, form, to, sender)
            except TwilioError as err:
                attempt["outcome"] = err.code
                raise
            except Dropped:
                attempt["outcome"] = "dropped, not accepted"
                raise
            attempt["outcome"], attempt["sid"] = after or "accepted", resource["sid"]
        if after == "drop":
            raise Dropped()
        if after == "accept_timeout":
            raise Dropped(self.fault_seconds)
        if after == "accept_500":
            raise TwilioError(20500)
        return resource

    def _create(self, kind, form, to, sender):
        if not to:
            raise TwilioError(21604)
        if not sender:
            raise TwilioError(21603)
        if kind == "sms" and not form.get("Body"):
            raise TwilioError(21602)
        if kind == "call" and not (form.get("Twiml") or form.get("Url")):
            raise TwilioError(21205)
        self._rate_check(sender)
        fault = self._next_fault()
        kind_of_fault = fault and fault.get("kind")
        self.fault_seconds = float((fault or {}).get("seconds", 3.0))
        if kind_of_fault == "500":
            raise TwilioError(20500)
        if kind_of_fault == "timeout":
            raise Dropped(self.fault_seconds)
        if not E164.match(to):
            raise TwilioError(21211, f"The 'To' number {to} is not a valid phone number.")
        number = self.settings.numbers.get(to, {})
        if number.get("error"):
            raise TwilioError(int(number["error"]))
        resource = self._new_message(form, to) if kind == "sms" else self._new_call(form, to)
        return resource, kind_of_fault if kind_of_fault in ("drop", "accept_500", "accept_timeout") else None

    def _base(self, resource_sid, collection, now):
        return {"sid": resource_sid, "account_sid": self.account_sid, "api_version": "2010-04-01",
                "date_created": rfc2822(now), "date_updated": rfc2822(now), "price": None,
                "price_unit": self.settings.price_unit,
                "uri": f"{API}/Accounts/{self.account_sid}/{collection}/{resource_sid}.json"}

    def _new_message(self, form, to):
        now, message_sid = datetime.now(UTC), sid("SM")
        service = form.get("MessagingServiceSid")
        base = f"{API}/Accounts/{self.account_sid}/Messages/{message_sid}"
        message = {**self._base(message_sid, "Messages", now), "to": to, "from": form.get("From") or None,
                   "messaging_service_sid": service, "body": form["Body"],
                   "status": "accepted" if service else "queued",
                   "num_segments": str(segments(form["Body"])), "num_media": "0", "direction": "outbound-api",
                   "date_sent": None, "error_code": None, "error_message": None,
                   "subresource_uris": {"media": f"{base}/Media.json", "feedback": f"{base}/Feedback.json"},
                   "_status_callback": form.get("StatusCallback"), "_created": now}
        self.messages[message_sid] = message
        outcome = self.settings.numbers.get(to, {})
        final = outcome.get("status", "delivered")
        if final != "failed":
            self.at(self.settings.sent_delay, self._message_status, message_sid, "sent", None)
        self.at(self.settings.final_delay, self._message_status, message_sid, final, outcome.get("error_code"))
        return message

    def _new_call(self, form, to):
        now, call_sid = datetime.now(UTC), sid("CA")
        call = {**self._base(call_sid, "Calls", now), "to": to, "to_formatted": to, "from": form.get("From"),
                "from_formatted": form.get("From"), "status": "queued", "start_time": None, "end_time": None,
                "duration": None, "direction": "outbound-api", "answered_by": None, "parent_call_sid": None,
                "phone_number_sid": None, "forwarded_from": None, "group_sid": None, "caller_name": None,
                "queue_time": "0", "trunk_sid": None,
                "subresource_uris": {
                    "recordings": f"{API}/Accounts/{self.account_sid}/Calls/{call_sid}/Recordings.json"},
                "_twiml": form.get("Twiml") or f"<Url>{form.get('Url')}</Url>",
                "_status_callback": form.get("StatusCallback"),
                "_events": set(form.getlist("StatusCallbackEvent")) if hasattr(form, "getlist") else {"completed"},
                "_created": now, "_sequence": 0}
        call["_events"] = call["_events"] or {"completed"}
        self.calls[call_sid] = call
        final = self.settings.numbers.get(to, {}).get("status", "completed")
        steps = [("initiated", 0.2), ("ringing", 0.4)]
        if final == "completed":
            steps.append(("in-progress", 0.6))
        steps.append((final, 1.0))
        for status, fraction in steps:
            self.at(self.settings.final_delay * fraction, self._call_status, call_sid, status)
        return call

    def _message_status(self, message_sid, status, error_code):
        message = self.messages.get(message_sid)
        if message is None:  # reset meanwhile
            return
        now = datetime.now(UTC)
        message["status"], message["date_updated"] = status, rfc2822(now)
        if status in ("sent", "delivered", "undelivered") and message["date_sent"] is None:
            message["date_sent"], message["_sent"] = rfc2822(now), now
            segments_sent = int(message["num_segments"])
            message["price"] = f"{float(self.settings.price_per_segment) * segments_sent:.5f}"
        if status in ("undelivered", "failed"):
            message["error_code"] = int(error_code or 30003)
            message["error_message"] = "Unreachable destination handset"
        params = {"MessageSid": message_sid, "SmsSid": message_sid, "AccountSid": self.account_sid,
                  "From": message["from"] or "", "To": message["to"], "MessageStatus": status, "SmsStatus": status,
                  "ApiVersion": "2010-04-01"}
        if message["messaging_service_sid"]:
            params["MessagingServiceSid"] = message["messaging_service_sid"]
        if message["error_code"]:
            params["ErrorCode"] = str(message["error_code"])
        self.callback(message["_status_callback"], params)

    def _call_status(self, call_sid, status):
        call = self.calls.get(call_sid)
        if call is None:
            return
        now = datetime.now(UTC)
        call["status"], call["date_updated"] = status, rfc2822(now)
        if status == "in-progress":
            call["start_time"], call["_started"] = rfc2822(now), now
        if status in ("completed", "busy", "no-answer", "failed", "canceled"):
            call["end_time"] = rfc2822(now)
            call["duration"] = "12" if status == "completed" else "0"
            call["price"] = self.settings.price_per_call if status == "completed" else None
        event = {"in-progress": "answered", "busy": "completed", "no-answer": "completed", "failed": "completed",
                 "canceled": "completed"}.get(status, status)
        if event not in call["_events"]:
            return
        params = {"CallSid": call_sid, "AccountSid": self.account_sid, "From": call["from"], "To": call["to"],
                  "CallStatus": status, "ApiVersion": "2010-04-01", "Direction": "outbound-api",
                  "CallbackSource": "call-progress-events", "Timestamp": rfc2822(now),
                  "SequenceNumber": str(call["_sequence"])}
        call["_sequence"] += 1
        if event == "completed":
            params["CallDuration"] = params["Duration"] = call["duration"]
        self.callback(call["_status_callback"], params)

    # -- reading ------------------------------------------------------------------------------

    @staticmethod
    def public(resource) -> dict:
        return {k: v for k, v in resource.items() if not k.startswith("_")}

    def listing(self, collection, query, path):
        """One page of ``collection`` (messages or calls), newest first, filtered as Twilio does."""
        items = self.messages if collection == "messages" else self.calls
        date_field = "_sent" if collection == "messages" else "_started"
        date_param = "DateSent" if collection == "messages" else "StartTime"
        first = {k: v[0] for k, v in query.items()}
        chosen = []
        for item in sorted(items.values(), key=lambda i: i["_created"], reverse=True):
            if "To" in first and item["to"] != first["To"]:
                continue
            if "From" in first and item["from"] != first["From"]:
                continue
            if collection == "calls" and "Status" in first and item["status"] != first["Status"]:
                continue
            moment = item.get(date_field)
            ok = True
            for suffix, compare in (("", lambda a, b: a == b), ("<", lambda a, b: a <= b), (">", lambda a, b: a >= b)):
                wanted = first.get(date_param + suffix)
                if wanted is None:
                    continue
                day = filter_date(wanted)
                if day is None:
                    raise TwilioError(20001, f"Invalid {date_param}{suffix}: {wanted!r}")
                ok = ok and moment is not None and compare(moment.date(), day)
            if ok:
                chosen.append(item)
        try:
            size = max(1, min(int(first.get("PageSize", 50)), 1000))
            page = max(0, int(first.get("Page", 0)))
        except ValueError:
            raise TwilioError(20001, "PageSize and Page are numbers") from None
        start = page * size
        selected = chosen[start:start + size]

        def uri(n):
            params = {k: v for k, v in first.items() if k not in ("Page", "PageToken")}
            params.update(PageSize=size, Page=n)
            if n:
                params["PageToken"] = f"PA{n * size}"
            return f"{path}?{urlencode(params)}"

        return {collection: [self.public(i) for i in selected], "end": start + max(len(selected), 1) - 1,
                "first_page_uri": uri(0), "next_page_uri": uri(page + 1) if start + size < len(chosen) else None,
                "previous_page_uri": uri(page - 1) if page else None, "page": page, "page_size": size,
                "start": start, "uri": uri(page)}

    def record(self) -> dict:
        with self.lock:
            return json.loads(json.dumps({
                "messages": [{**self.public(m), "status_callback": m["_status_callback"]}
                             for m in self.messages.values()],
                "calls": [{**self.public(c), "twiml": c["_twiml"], "status_callback": c["_status_callback"]}
                          for c in self.calls.values()],
                "attempts": self.attempts, "callbacks": self.callbacks, "held_callbacks": len(self.held),
            }, default=str))

    def reset(self):
        with self.lock:
            self._timers.clear()
            self.messages.clear()
            self.calls.clear()
            self.attempts.clear()
            self.callbacks.clear()
            self.held.clear()
            self.buckets.clear()
            self.settings.create_faults = []
            self.settings.numbers = {}
            self.settings.callbacks = {"mode": "normal", "delay": 0.0}

    def configure(self, changes: dict):
        with self.lock:
            for name in ("rate", "burst", "sent_delay", "final_delay", "price_per_segment", "price_per_call"):
                if name in changes:
                    setattr(self.settings, name, changes[name])
            if "rate" in changes or "burst" in changes:
                self.buckets.clear()  # a rate set anew starts with full buckets
            if "create_faults" in changes:
                self.settings.create_faults = [dict(f) for f in changes["create_faults"]]
            if "numbers" in changes:
                self.settings.numbers.update(changes["numbers"])
            if "callbacks" in changes:
                self.settings.callbacks = {"mode": "normal", "delay": 0.0, **changes["callbacks"]}
            return {"rate": self.settings.rate, "burst": self.settings.burst,
                    "create_faults": self.settings.create_faults, "numbers": self.settings.numbers,
                    "callbacks": self.settings.callbacks}

    def phones_page(self) -> str:
        """Every SMS and call each number received, newest first: what someone trying the suite watches."""
        with self.lock:
            received = {}
            for m in self.messages.values():
                received.setdefault(m["to"], []).append((m["_created"], "短信 SMS",
                                                         m["from"] or m["messaging_service_sid"],
                                                         m["body"], m["status"], m["num_segments"]))
            for c in self.calls.values():
                said = re.sub(r"<[^>]+>", " ", c["_twiml"]).strip()
                received.setdefault(c["to"], []).append((c["_created"], "电话 call", c["from"], said, c["status"], ""))
        rows = []
        for number in sorted(received):
            rows.append(f"<h2>{html.escape(number)}</h2><table><tr><th>time (UTC)</th><th>kind</th><th>from</th>"
                        "<th>text</th><th>status</th><th>segments</th></tr>")
            for created, kind, sender, text, status, parts in sorted(received[number], reverse=True):
                rows.append(f"<tr><td>{created:%Y-%m-%d %H:%M:%S}</td><td>{kind}</td><td>{html.escape(sender or '')}"
                            f"</td><td>{html.escape(text)}</td><td>{html.escape(status)}</td><td>{parts}</td></tr>")
            rows.append("</table>")
        return ("<!doctype html><html><head><meta charset='utf-8'><meta http-equiv='refresh' content='3'>"
                "<title>Phones (fake Twilio)</title><style>body{font-family:sans-serif}table{border-collapse:collapse}"
                "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>"
                "<h1>Phones — what each number received (fake Twilio)</h1>"
                + ("".join(rows) or "<p>Nothing yet.</p>") + "</body></html>")


_MESSAGES = re.compile(rf"^{API}/Accounts/(?P<account>[^/]+)/(?P<collection>Messages|Calls)(?:/(?P<sid>[^/]+))?\.json$")


class Form(dict):
    """Form fields, first value of each, with ``getlist`` for the repeated ones."""

    def __init__(self, pairs):
        super().__init__()
        self.lists = {}
        for name, values in pairs.items():
            self.lists[name] = values
            self[name] = values[0]

    def getlist(self, name):
        return self.lists.get(name, [])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeTwilio/1.0"
    disable_nagle_algorithm = True  # headers and body go as separate writes: no 40 ms wait on delayed ACKs
    fake: FakeTwilio

    def log_message(self, fmt, *args):
        log.debug("%s " + fmt, self.address_string(), *args)

    def _send(self, status, payload=None, content_type="application/json", headers=None):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _authorised(self, account):
        scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            user = password = ""
        if scheme.lower() != "basic" or (user, password) != (self.fake.account_sid, self.fake.auth_token):
            raise TwilioError(20003)
        if account != self.fake.account_sid:
            raise TwilioError(20404)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method):
        url = urlsplit(self.path)
        self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method == "POST" else b""
        try:
            if url.path.startswith("/_control/") or url.path in ("/phones", "/"):
                return self._control(method, url.path)
            match = _MESSAGES.match(url.path)
            if not match:
                raise TwilioError(20404)
            self._authorised(match["account"])
            collection = match["collection"].lower()
            if method == "POST" and not match["sid"]:
                form = Form(parse_qs(self.body.decode(), keep_blank_values=True))
                resource = self.fake.create("sms" if collection == "messages" else "call", form)
                return self._send(201, self.fake.public(resource))
            if method == "GET" and match["sid"]:
                with self.fake.lock:
                    resource = (self.fake.messages if collection == "messages" else self.fake.calls).get(match["sid"])
                    if resource is None:
                        raise TwilioError(20404)
                    return self._send(200, self.fake.public(resource))
            if method == "GET":
                with self.fake.lock:
                    page = self.fake.listing(collection, parse_qs(url.query), url.path)
                return self._send(200, page)
            raise TwilioError(20404)
        except TwilioError as err:
            self._send(err.status, err.body(), headers=err.headers)
        except Dropped as drop:
            time.sleep(drop.seconds)
            self.close_connection = True  # no answer at all: the client cannot tell what happened

    def _control(self, method, path):
        fake = self.fake
        if path in ("/phones", "/") and method == "GET":
            return self._send(200, fake.phones_page().encode(), "text/html; charset=utf-8")
        if path == "/_control/record" and method == "GET":
            return self._send(200, fake.record())
        body = json.loads(self.body or b"{}") if method == "POST" else {}
        if path == "/_control/faults" and method == "POST":
            return self._send(200, fake.configure(body))
        if path == "/_control/reset" and method == "POST":
            fake.reset()
            return self._send(200, {"reset": True})
        if path == "/_control/callbacks/release" and method == "POST":
            return self._send(200, {"released": fake.release(body.get("order", "forward"))})
        raise TwilioError(20404)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a benchmark's burst of creates and lists must not be refused


def serve(account_sid, auth_token, host="127.0.0.1", port=0, settings=None):
    """The server (not yet serving: call ``serve_forever``) and its state."""
    fake = FakeTwilio(account_sid, auth_token, settings)
    handler = type("BoundHandler", (Handler,), {"fake": fake})
    server = _Server((host, port), handler)
    fake.start()
    return server, fake
