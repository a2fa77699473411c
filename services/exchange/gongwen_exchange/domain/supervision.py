"""What keeps the exchange on time: the working calendar the operator loads (工作日历), the
overdue sweep that announces each late receipt exactly once, and clerks' presence in their duty
windows (001 §18, §20)."""
from collections import Counter, OrderedDict
from datetime import date, datetime, timedelta

from sqlalchemy import select

from gongwen_common.audit import Caller
from gongwen_common.errors import validated
from gongwen_contracts.exchange.schemas import CalendarYearSchema

from ..models import CalendarDay, CalendarYear, Document, Presence, Receipt, UnitView
from .deadlines import COVERAGE_WEEKENDS_ONLY, WorkingCalendar
from .documents import OPEN, record, summary
from .errors import Forbidden, InvalidCalendar, ValidationFailed

SWEEP_BATCH = 500


def working_calendar(session) -> WorkingCalendar:
    """The statutory calendar with the operator's loaded schedules taking precedence."""
    # Plain rows on the session's connection: read on every send, so no ORM result machinery;
    # a Core read does not autoflush, so the session's pending changes (a calendar just loaded) go first.
    session.flush()
    connection = session.connection()
    days, years = CalendarDay.__table__.c, CalendarYear.__table__.c
    return WorkingCalendar(dict(connection.execute(select(days.day, days.working)).all()),
                           set(connection.execute(select(years.year)).scalars()))


def load_calendar(session, year, request, actor, now) -> dict:
    """The operator loads a year's official schedule (the State Council's notice): every listed
    date overrides the library; listing a date again replaces it."""
    caller = Caller.of(actor)
    if not caller.is_operator:
        raise Forbidden(message="Only the operator loads the working calendar.")
    data = validated(CalendarYearSchema(), request)
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        raise ValidationFailed({"year": ["2000–2100"]})
    outside = [d["date"].isoformat() for d in data["days"] if d["date"].year != year]
    if outside:
        raise InvalidCalendar(message=f"Every date must fall in {year}.",
                              fields={"days": [f"not in {year}: {outside[:5]}"]})
    repeated = sorted({d.isoformat() for d, n in Counter(d["date"] for d in data["days"]).items() if n > 1})
    if repeated:
        raise InvalidCalendar(message="Each date is listed once.",
                              fields={"days": [f"listed more than once: {repeated}"]})
    for day in data["days"]:
        row = session.get(CalendarDay, day["date"]) or CalendarDay(day=day["date"])
        row.working, row.note = day["working"], day["note"]
        session.add(row)
    entry = session.get(CalendarYear, year) or CalendarYear(year=year)
    entry.source, entry.loaded_by, entry.loaded_at = data["source"], caller.user_id, now
    session.add(entry)
    record(session, now, caller, "calendar_loaded", "calendar", str(year), days=len(data["days"]),
           source=data["source"])
    return calendar_status(session, now)


def calendar_status(session, now) -> dict:
    """Coverage of this year and the next; a year that would fall back to weekends only is a
    warning the operator must act on (health shows it)."""
    calendar = working_calendar(session)
    years = [now.year, now.year + 1]
    coverage = {str(year): calendar.coverage(year) for year in years}
    warnings = [f"no holiday schedule for {year}: deadlines count weekends only until the operator loads "
                f"the State Council's notice (PUT /api/v1/admin/calendar/{year})"
                for year in years if coverage[str(year)] == COVERAGE_WEEKENDS_ONLY]
    return {"coverage": coverage, "warnings": warnings}


def sweep_overdue(session, now, limit: int = SWEEP_BATCH) -> int:
    """Announce ``receipt_overdue`` for receipts past their deadline and not yet signed for, once
    each: the row is claimed (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and marked in the same
    transaction as the event, so several instances sweeping together never announce one twice."""
    due = list(session.scalars(
        select(Receipt).where(Receipt.state.in_(OPEN), Receipt.latest.is_(True), Receipt.overdue_at.is_(None),
                              Receipt.closed_at.is_(None), Receipt.due_at <= now)
        .order_by(Receipt.due_at).limit(limit).with_for_update(skip_locked=True)))
    documents = {}
    for receipt in due:
        receipt.overdue_at = now
        document = documents.get(receipt.document_id) or session.get(Document, receipt.document_id)
        documents[receipt.document_id] = document
        session.emit("receipt_overdue", {**summary(document), "unit_code": receipt.unit_code,
                                         "receipt_id": receipt.id, "state": receipt.state,
                                         "due_at": receipt.due_at.isoformat(), "overdue_at": now.isoformat()}, at=now)
    return len(due)


class RecentPresence:
    """When this process last recorded each clerk, so that an office system polling the inbox every
    few seconds does not write a presence row each time: the duty-window report tells apart hours,
    not seconds, and a row a minute per clerk tells it everything (issue 15: a poll was a write)."""

    EVERY = timedelta(minutes=1)

    def __init__(self, size: int = 100_000):
        self._last: OrderedDict = OrderedDict()
        self._size = size

    def due(self, key, now) -> bool:
        """True, and remembered, when ``key`` was not recorded within the last minute (or the clock
        went back, as an injected one may)."""
        last = self._last.get(key)
        if last is not None and timedelta(0) <= now - last < self.EVERY:
            return False
        self._last[key] = now
        self._last.move_to_end(key)
        if len(self._last) > self._size:
            self._last.popitem(last=False)
        return True


def seen(session, user_id, unit_code, roles, via: str, now, recent: RecentPresence | None = None) -> None:
    """Record a clerk's presence (an inbox poll, a login); with ``recent``, at most once a minute
    per clerk, unit and way in."""
    if "clerk" in (roles or ()) and isinstance(user_id, str) and isinstance(unit_code, str):
        if recent is None or recent.due((user_id, unit_code, via), now):
            session.add(Presence(user_id=user_id, unit_code=unit_code, seen_at=now, via=via))


def duty_windows(policy, day: date) -> list[tuple[datetime, datetime]]:
    """The day's duty windows: each working period cut into spans of at most two hours (001 §18)."""
    windows = []
    for start, end in policy.working_hours:
        moment = datetime.combine(day, start, tzinfo=policy.zone)
        close = datetime.combine(day, end, tzinfo=policy.zone)
        while moment < close:
            windows.append((moment, min(moment + timedelta(hours=2), close)))
            moment += timedelta(hours=2)
    return windows


def presence_report(session, day: date, actor, policy, unit_code=None) -> dict:
    """For each unit (the operator: all, others: their own), the duty windows of ``day`` in which
    no clerk of the unit was seen online."""
    caller = Caller.of(actor)
    if not caller.is_operator:
        unit_code = caller.unit_code
    if not working_calendar(session).is_working_day(day):
        return {"date": day.isoformat(), "working_day": False, "units": []}
    windows = duty_windows(policy, day)
    start, end = windows[0][0], windows[-1][1]
    units = [unit_code] if unit_code else list(session.scalars(
        select(UnitView.code).where(UnitView.status == "active").order_by(UnitView.code)))
    seen_at = {}
    for code, moment in session.execute(select(Presence.unit_code, Presence.seen_at).where(
            Presence.unit_code.in_(units), Presence.seen_at >= start, Presence.seen_at < end)):
        seen_at.setdefault(code, []).append(moment)
    report = []
    for code in units:
        missed = [(a, b) for a, b in windows if not any(a <= m < b for m in seen_at.get(code, []))]
        report.append({"unit_code": code, "missed_windows": [{"from": a.isoformat(), "to": b.isoformat()}
                                                             for a, b in missed]})
    return {"date": day.isoformat(), "working_day": True, "units": report}


def parse_day(value) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValidationFailed({"date": ["YYYY-MM-DD"]}) from None


