"""Supervision reports (督查通报): per unit and period, who signed on time, who was late and by how
much, who never signed, who returned, how fast units sign by urgency, the proof of notification for
late urgent documents (whose fault, 001 §21), clerks' presence in their duty windows (001 §18) and
the electronic rate against the target (004 三) — "定时抽查、定期通报" (001 §28).

Computed from the archive's own ledger, nothing else: each exchange event's exact leaf (decoded
``leaf_input``) rebuilds every receipt delivered in the period and what became of it, and notify's
events in the ledger are the notification evidence. So a report shows only what the tamper-evident
record holds, and anyone with the ledger can recompute it.

A receipt *received* in the period is one delivered (``document_sent``, resends and transfers
included: each is a receipt with its own ``due_at``) between the first day's 00:00 and the day
after the last, in the report's time zone. Its outcome, as the ledger knows it now, is one of:
``signed_on_time`` (signed at or before ``due_at``), ``signed_late``, ``returned``,
``paper_served``, ``withdrawn`` (recalled or closed before anyone signed), ``never_signed`` (still
unsigned past ``due_at``) or ``pending`` (unsigned, not yet due). Time-to-sign is signed − delivered;
the median is the middle value (mean of the two middle ones), p90 the 90th percentile interpolated
linearly between closest ranks (the "inclusive" method, as spreadsheets' PERCENTILE does)."""
import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from gongwen_common.audit import Caller
from gongwen_common.errors import DomainError, Forbidden, ValidationFailed

from ..models import LedgerEntry, UnitView

URGENCIES = ("normal", "urgent", "extra_urgent")  # 平急, 加急, 特急
URGENT = ("urgent", "extra_urgent")
READERS = ("admin", "clerk")  # besides the operator: a unit's admin and clerks, of their own unit
OUTCOMES = ("signed_on_time", "signed_late", "never_signed", "pending", "returned", "paper_served", "withdrawn")
RECEIPT_EVENTS = ("document_sent", "document_read", "receipt_signed", "receipt_registered", "document_returned",
                  "receipt_paper_served", "receipt_overdue", "document_recalled", "receipt_closed")
MAX_DAYS = 366
FIRST_YEAR, LAST_YEAR = 2000, 2100
# The distribution of time-to-sign: bins' upper edges in minutes (the last bin is open).
BIN_EDGES = (30, 60, 120, 240, 480, 1440, 2880, 4320)


class InvalidPeriod(DomainError):
    code, status = "INVALID_PERIOD", 422


@dataclass(frozen=True)
class ReportSettings:
    """``REPORT_TIMEZONE`` (default Asia/Shanghai, the exchange's), ``REPORT_ELECTRONIC_TARGET``
    (default 1.0: 004 三 set 80 % for 2007 and "全部实现电子化", all of it, from 2008 on)."""

    timezone: str = "Asia/Shanghai"
    electronic_target: float = 1.0

    @classmethod
    def from_config(cls, config) -> "ReportSettings":
        zone = config.get("REPORT_TIMEZONE") or cls.timezone
        target = config.get("REPORT_ELECTRONIC_TARGET")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise ValueError(f"REPORT_TIMEZONE {zone!r} is not an IANA time zone") from exc
        try:
            target = cls.electronic_target if target in (None, "") else float(target)
        except (TypeError, ValueError):
            target = math.nan
        if not 0 <= target <= 1:  # NaN too
            raise ValueError(f"REPORT_ELECTRONIC_TARGET must be a number between 0 and 1, got {target!r}")
        return cls(zone, target)


@dataclass(frozen=True)
class Period:
    first: date
    last: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), tzinfo=self.zone).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=self.zone).astimezone(UTC)

    def days(self, until: date) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((min(self.last, until) - self.first).days + 1)]


def period_of(first, last, timezone: str) -> Period:
    """``from`` and ``to`` as dates (YYYY-MM-DD, both days included); 400 when unusable."""
    errors, days = {}, {}
    for name, value in (("from", first), ("to", last)):
        try:
            days[name] = value if isinstance(value, date) else date.fromisoformat(value)
        except (TypeError, ValueError):
            errors[name] = ["a date, YYYY-MM-DD"]
    if errors:
        raise ValidationFailed(errors)
    # Well-formed dates that make no period: the report's own rules (422), not the request's shape.
    wrong = {name: [f"a date in {FIRST_YEAR}–{LAST_YEAR}"] for name, day in days.items()
             if not FIRST_YEAR <= day.year <= LAST_YEAR}  # nor would a day at the ends of time convert to UTC
    if not wrong and days["to"] < days["from"]:
        wrong = {"to": ["on or after from"]}
    if not wrong and (days["to"] - days["from"]).days >= MAX_DAYS:
        wrong = {"to": [f"a period of at most {MAX_DAYS} days"]}
    if wrong:
        raise InvalidPeriod(message="The dates make no period a report covers.", fields=wrong)
    return Period(days["from"], days["to"], ZoneInfo(timezone))


@dataclass
class Receipt:
    """One receipt as the ledger tells it: delivered, then each step's time."""

    receipt_id: str
    document_id: str
    doc_number: str | None
    title: str | None
    issuer_code: str | None
    urgency: str
    unit_code: str
    role: str | None
    resend: bool
    delivered_at: datetime
    due_at: datetime
    read_at: datetime | None = None
    signed_at: datetime | None = None
    returned_at: datetime | None = None
    paper_served_at: datetime | None = None
    overdue_at: datetime | None = None
    withdrawn_at: datetime | None = None

    def outcome(self, now: datetime) -> str:
        if self.signed_at is not None:
            return "signed_on_time" if self.signed_at <= self.due_at else "signed_late"
        if self.returned_at is not None:
            return "returned"
        if self.paper_served_at is not None:
            return "paper_served"
        if self.withdrawn_at is not None:
            return "withdrawn"
        return "never_signed" if now >= self.due_at else "pending"

    @property
    def time_to_sign(self) -> float:
        return minutes(self.signed_at - self.delivered_at)

    def brief(self) -> dict:
        return {"document_id": self.document_id, "receipt_id": self.receipt_id, "doc_number": self.doc_number,
                "title": self.title, "issuer_code": self.issuer_code, "unit_code": self.unit_code,
                "urgency": self.urgency, "resend": self.resend, "delivered_at": self.delivered_at.isoformat(),
                "due_at": self.due_at.isoformat()}


def minutes(delta: timedelta) -> float:
    return round(delta.total_seconds() / 60, 2)


def _moment(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _receipt_id(data: dict) -> str | None:
    inner = data.get("receipt")
    found = inner.get("receipt_id") if isinstance(inner, dict) else data.get("receipt_id")
    return found if isinstance(found, str) else None


def receipts_of(session, period: Period) -> dict[str, Receipt]:
    """Every receipt delivered in the period, with what followed, from the exchange's leaves in
    ledger order (a later step can only follow its delivery, so nothing before the period is read)."""
    found: dict[str, Receipt] = {}
    by_document: dict[str, list[Receipt]] = {}
    rows = session.execute(select(LedgerEntry.event_type, LedgerEntry.occurred_at, LedgerEntry.leaf_input)
                           .where(LedgerEntry.source == "exchange", LedgerEntry.event_type.in_(RECEIPT_EVENTS),
                                  LedgerEntry.occurred_at >= period.start)
                           .order_by(LedgerEntry.seq))
    for event_type, occurred_at, leaf_input in rows:
        data = json.loads(leaf_input).get("data") or {}
        at = occurred_at.astimezone(UTC) if occurred_at.tzinfo else occurred_at.replace(tzinfo=UTC)
        if event_type == "document_sent":
            if at < period.end:
                for brief in data.get("receipts") or ():
                    receipt = found[brief["receipt_id"]] = Receipt(
                        brief["receipt_id"], data.get("id"), data.get("doc_number"), data.get("title"),
                        data.get("issuer_code"), data.get("urgency") or "normal", brief["unit_code"], brief.get("role"),
                        bool(data.get("resend") or data.get("transferred_from")), at,
                        _moment(brief.get("due_at")) or at)
                    by_document.setdefault(receipt.document_id, []).append(receipt)
            continue
        if event_type == "document_recalled":  # every receipt not yet signed, returned or served ends here
            for receipt in by_document.get(data.get("id"), ()):
                if receipt.outcome(at) in ("pending", "never_signed"):
                    receipt.withdrawn_at = at
            continue
        receipt = found.get(_receipt_id(data))
        if receipt is None:
            continue
        if event_type == "document_read":
            receipt.read_at = receipt.read_at or _moment(data.get("read_at")) or at
        elif event_type == "receipt_signed":
            receipt.signed_at = _moment((data.get("receipt") or {}).get("signed_at")) or at
        elif event_type == "document_returned" and receipt.signed_at is None:
            receipt.returned_at = at
        elif event_type == "receipt_paper_served" and receipt.signed_at is None:
            receipt.paper_served_at = at
        elif event_type == "receipt_overdue":
            receipt.overdue_at = at
        elif event_type == "receipt_closed" and receipt.signed_at is None:
            receipt.withdrawn_at = at
    return found


def percentile(values: list[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (position (n − 1)·fraction); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    below, above = math.floor(position), math.ceil(position)
    return round(ordered[below] + (ordered[above] - ordered[below]) * (position - below), 2)


def median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered, middle = sorted(values), len(values) // 2
    return round(ordered[middle] if len(values) % 2 else (ordered[middle - 1] + ordered[middle]) / 2, 2)


def timing(receipts: list[Receipt]) -> dict:
    """Time-to-sign in minutes by urgency: how many signed, median and p90."""
    by_urgency = {}
    for urgency in URGENCIES:
        values = [r.time_to_sign for r in receipts if r.urgency == urgency and r.signed_at is not None]
        by_urgency[urgency] = {"count": len(values), "median": median(values), "p90": percentile(values, 0.9)}
    return by_urgency


def electronic(receipts: list[Receipt], target: float) -> dict:
    """Served electronically (signed for in the system) against served on paper (004 三)."""
    signed = sum(1 for r in receipts if r.signed_at is not None)
    paper = sum(1 for r in receipts if r.signed_at is None and r.paper_served_at is not None)
    rate = round(signed / (signed + paper), 4) if signed + paper else None
    return {"electronic": signed, "paper": paper, "rate": rate, "target": target,
            "meets_target": None if rate is None else rate >= target}


def figures(receipts: list[Receipt], now: datetime, target: float) -> dict:
    outcomes = {name: 0 for name in OUTCOMES}
    late = []
    for receipt in receipts:
        outcomes[receipt.outcome(now)] += 1
        if receipt.outcome(now) == "signed_late":
            late.append(minutes(receipt.signed_at - receipt.due_at))
    return {"received": len(receipts), **outcomes,
            "late_minutes": {"total": round(sum(late), 2), "max": max(late) if late else None,
                             "median": median(late)},
            "time_to_sign_minutes": timing(receipts), "electronic": electronic(receipts, target)}


def distribution(receipts: list[Receipt]) -> list[dict]:
    """Signed receipts per time-to-sign bin (minutes), for the chart."""
    edges = (0, *BIN_EDGES)
    bins = [{"from": low, "to": high, "count": 0} for low, high in zip(edges, (*BIN_EDGES, None), strict=True)]
    for receipt in receipts:
        if receipt.signed_at is None:
            continue
        value = receipt.time_to_sign
        for item in bins:
            if value >= item["from"] and (item["to"] is None or value < item["to"]):
                item["count"] += 1
                break
    return bins


# --- notification evidence (001 §21) ---------------------------------------------------------------

NOTICE_EVENT = "message_status"  # notify's: a notification or its message took a status
ATTEMPTED = ("queued", "sent", "delivered", "undelivered", "failed")  # a notice that went out (not skipped)


def notifications_for(session, document_ids) -> dict[tuple[str, str], list[dict]]:
    """Notify's ``message_status`` events in the ledger for these documents, one line per notice
    to the receiving unit's people at its latest status (each event carries the whole state, so
    the last one is the line), keyed by (document, unit told). The sender's own clerks' chasing
    (``sender_clerk``) tells the receiver nothing: it is no evidence against the receiver."""
    lines: dict[tuple, dict] = {}
    if not document_ids:
        return {}
    rows = session.execute(select(LedgerEntry.seq, LedgerEntry.occurred_at, LedgerEntry.leaf_input)
                           .where(LedgerEntry.source == "notify", LedgerEntry.event_type == NOTICE_EVENT,
                                  LedgerEntry.document_id.in_(sorted(document_ids)))
                           .order_by(LedgerEntry.seq))
    for seq, occurred_at, leaf_input in rows:
        data = json.loads(leaf_input).get("data") or {}
        if not isinstance(data.get("unit_code"), str) or data.get("role") == "sender_clerk":
            continue
        at = occurred_at.astimezone(UTC) if occurred_at.tzinfo else occurred_at.replace(tzinfo=UTC)
        key = (data["document_id"], data["unit_code"], data.get("notification_id") or data.get("message_id") or seq)
        told = _moment(data.get("sent_at")) or _moment(data.get("created_at")) or at
        delivered = _moment(data.get("delivered_at"))
        lines[key] = {"channel": data.get("channel"), "to": data.get("to"), "role": data.get("role"),
                      "user_id": data.get("user_id"), "status": data.get("status"), "reason": data.get("reason"),
                      "error_code": data.get("error_code"), "told_at": told.isoformat(),
                      "delivered_at": delivered.isoformat() if delivered else None,
                      "status_at": (_moment(data.get("at")) or at).isoformat(), "ledger_index": seq}
    grouped: dict[tuple[str, str], list[dict]] = {}
    for (document_id, unit_code, _), line in lines.items():
        grouped.setdefault((document_id, unit_code), []).append(line)
    return grouped


def evidence(receipt: Receipt, lines: list[dict], now: datetime) -> dict:
    """Whose fault a late urgent receipt is (001 §21): the receiver's when a notice reached it
    (delivered); undetermined when notices went out but none is known delivered; the sender's when
    none went out (none recorded, or each skipped — no SMS for the unit, no mobile filed — the
    sender had to phone, and nothing shows it did)."""
    lines = sorted(lines, key=lambda line: (line["told_at"], line["ledger_index"]))
    sent = [line for line in lines if line["status"] in ATTEMPTED]
    if any(line["status"] == "delivered" for line in sent):
        fault, note = "receiver", "notified and delivered"
    elif sent:
        fault, note = "undetermined", "notified, delivery not confirmed"
    elif lines:
        reasons = sorted({line["reason"] or line["status"] for line in lines})
        fault, note = "sender", f"not notified: {', '.join(reasons)}"
    else:
        fault, note = "sender", "no notification recorded"
    signed = receipt.signed_at
    return {**receipt.brief(), "outcome": receipt.outcome(now), "signed_at": signed.isoformat() if signed else None,
            "late_minutes": minutes((signed or now) - receipt.due_at), "notifications": lines, "fault": fault,
            "note": note}


# --- presence (001 §18) ------------------------------------------------------------------------------

def presence_of(days: list[date], units: list[str], presence) -> tuple[dict, str | None]:
    """Per unit: working days looked at and the duty windows in which none of its clerks was online,
    from the exchange's ``presence_report`` (``presence(day)``); a note instead when it cannot answer."""
    found = {code: {"working_days": 0, "missed_windows": 0, "missed": []} for code in units}
    try:
        for day in days:
            answer = presence(day)
            if not answer.get("working_day"):
                continue
            for unit in answer.get("units") or ():
                line = found.get(unit.get("unit_code"))
                if line is None:
                    continue
                line["working_days"] += 1
                line["missed_windows"] += len(unit.get("missed_windows") or ())
                line["missed"].extend(unit.get("missed_windows") or ())
    except DomainError as exc:  # the exchange unreachable: the rest of the report still stands
        return {}, f"presence not available: {exc.message}"
    return found, None


# --- the report ------------------------------------------------------------------------------------------

def scope_of(actor) -> str | None:
    """``None`` for the operator (every unit), else the caller's own unit; others are refused."""
    caller = Caller.of(actor)
    if caller.is_operator:
        return None
    if caller.unit_code and any(caller.has(role) for role in READERS):
        return caller.unit_code
    raise Forbidden(message="Supervision reports are for the operator and a unit's admin and clerks.")


def supervision(session, first, last, actor, settings: ReportSettings, presence, now: datetime) -> dict:
    """The report for ``first``..``last`` (dates, both included) as the caller may see it.
    ``presence(day)`` asks the exchange for a day's duty windows missed (as the caller)."""
    scope = scope_of(actor)
    period = period_of(first, last, settings.timezone)
    receipts = [r for r in receipts_of(session, period).values() if scope is None or r.unit_code == scope]
    receipts.sort(key=lambda r: (r.delivered_at, r.unit_code, r.receipt_id))
    names = {code: name for code, name in session.execute(select(UnitView.code, UnitView.name))}
    if scope is None:
        active = session.scalars(select(UnitView.code).where(UnitView.status == "active"))
        codes = sorted({*active, *(r.unit_code for r in receipts)})
    else:
        codes = [scope]
    by_unit = {code: [r for r in receipts if r.unit_code == code] for code in codes}
    today = now.astimezone(period.zone).date()
    present, presence_note = presence_of(period.days(today) if period.first <= today else [], codes, presence)
    units = [{"unit_code": code, "name": names.get(code, code),
              **figures(by_unit[code], now, settings.electronic_target), "presence": present.get(code)}
             for code in codes]
    late = [r for r in receipts if r.outcome(now) == "signed_late"]
    never = [r for r in receipts if r.outcome(now) == "never_signed"]
    urgent_late = [r for r in late + never if r.urgency in URGENT]
    notices = notifications_for(session, {r.document_id for r in urgent_late})
    return {
        "period": {"from": period.first.isoformat(), "to": period.last.isoformat(), "timezone": settings.timezone,
                   "start": period.start.isoformat(), "end": period.end.isoformat()},
        "generated_at": now.isoformat(), "scope": scope or "all",
        "electronic_target": settings.electronic_target,
        "units": units,
        "totals": figures(receipts, now, settings.electronic_target),
        "late": [{**r.brief(), "signed_at": r.signed_at.isoformat(), "late_minutes": minutes(r.signed_at - r.due_at)}
                 for r in sorted(late, key=lambda r: (r.unit_code, r.due_at, r.receipt_id))],
        "never_signed": [{**r.brief(), "overdue_minutes": minutes(now - r.due_at)}
                         for r in sorted(never, key=lambda r: (r.unit_code, r.due_at, r.receipt_id))],
        "returned": [{**r.brief(), "returned_at": r.returned_at.isoformat()}
                     for r in receipts if r.outcome(now) == "returned"],
        "urgent_late_evidence": [evidence(r, notices.get((r.document_id, r.unit_code), []), now)
                                 for r in sorted(urgent_late, key=lambda r: (r.unit_code, r.due_at, r.receipt_id))],
        "distribution": distribution(receipts),
        "presence_note": presence_note,
    }

