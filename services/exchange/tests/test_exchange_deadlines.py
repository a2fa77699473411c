"""Deadlines of receipts on the statutory calendar, moved by the clock; overdue announced once;
the operator's calendar for years the library does not know; clerks' presence."""
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from gongwen_exchange.domain.supervision import RecentPresence
from gongwen_exchange.models import CalendarDay, Presence

BEIJING = ZoneInfo("Asia/Shanghai")


def beijing(*parts):
    return datetime(*parts, tzinfo=BEIJING)


def test_a_normal_document_sent_before_national_day_is_due_at_the_end_of_the_next_working_day(exchange):
    exchange.clock.now = beijing(2022, 9, 30, 17, 0)  # Friday before the National Day week
    exchange.units("gz-fgw", "a1", sealed=["gz-fgw"])
    sent = exchange.send(main=("a1",), cc=(), urgency="normal", doc_number="穗发改〔2022〕99号")
    # 1–7 October off; Saturday 8 October was an adjusted working day (调休上班).
    assert sent["receipts"][0]["due_at"] == beijing(2022, 10, 8, 18, 0).astimezone(UTC).isoformat()


def test_an_urgent_document_sent_at_night_is_due_in_two_hours_and_overdue_fires_once(exchange):
    exchange.clock.now = beijing(2026, 11, 18, 22, 0)
    exchange.units("gz-fgw", "a1", "a2", sealed=["gz-fgw"])
    sent = exchange.send(main=("a1", "a2"), cc=(), urgency="urgent")
    assert {r["due_at"] for r in sent["receipts"]} == {beijing(2026, 11, 19, 0, 0).astimezone(UTC).isoformat()}
    exchange.call("sign_for", sent["id"], exchange.clerk("a2"))

    exchange.clock.now = beijing(2026, 11, 18, 23, 59)
    assert exchange.call("sweep_overdue") == 0
    exchange.clock.now = beijing(2026, 11, 19, 0, 0)
    assert exchange.call("sweep_overdue") == 1
    exchange.clock.advance(minutes=30)
    assert exchange.call("sweep_overdue") == 0  # the same receipt and deadline: never again
    [overdue] = exchange.events("receipt_overdue")
    assert (overdue["unit_code"], overdue["due_at"]) == ("a1", sent["receipts"][0]["due_at"])
    matrix = exchange.call("receipts", sent["id"], exchange.clerk("gz-fgw"))
    assert [(r["unit_code"], r["overdue"]) for r in matrix] == [("a1", True), ("a2", False)]


def test_a_year_without_a_schedule_counts_weekends_and_warns_until_the_operator_loads_it(exchange):
    exchange.clock.now = beijing(2026, 12, 31, 17, 0)  # Thursday; the library knows nothing of 2027
    exchange.units("gz-fgw", "a1", sealed=["gz-fgw"])
    health = exchange.call("health")
    assert health["calendar"] == {"2026": "library", "2027": "weekends_only"}
    assert "2027" in health["warnings"][0]
    sent = exchange.send(main=("a1",), cc=(), urgency="normal", doc_number="穗发改〔2026〕500号")
    assert sent["receipts"][0]["due_at"] == beijing(2027, 1, 1, 18, 0).astimezone(UTC).isoformat()

    schedule = {"source": "国务院办公厅关于2027年部分节假日安排的通知",
                "days": [{"date": "2027-01-01", "working": False, "note": "元旦"}]}
    operator = {"user_id": "op-1", "unit_code": "operator", "roles": ["operator"]}
    assert exchange.refused("load_calendar", 2027, schedule, exchange.clerk("gz-fgw")).code == "FORBIDDEN"
    assert exchange.call("load_calendar", 2027, schedule, operator)["warnings"] == []
    assert exchange.call("health")["calendar"]["2027"] == "official"
    later = exchange.send(main=("a1",), cc=(), urgency="normal", doc_number="穗发改〔2026〕501号")
    assert later["receipts"][0]["due_at"] == beijing(2027, 1, 4, 18, 0).astimezone(UTC).isoformat()  # Monday


def test_presence_lists_the_duty_windows_a_units_clerks_missed(exchange):
    exchange.units("gz-fgw", "a1")
    exchange.clock.now = beijing(2026, 11, 18, 9, 0)
    exchange.call("inbox", exchange.clerk("a1"))
    exchange.clock.now = beijing(2026, 11, 18, 15, 0)
    exchange.call("on_user_logged_in", {"event_id": "e-1", "event_type": "user_logged_in",
                                        "occurred_at": exchange.clock.now.isoformat(),
                                        "data": {"user_id": "clerk-a1", "unit_code": "a1", "roles": ["clerk"]}})
    report = exchange.call("presence_report", "2026-11-18", {"user_id": "op-1", "unit_code": "operator",
                                                               "roles": ["operator"]})
    missed = {u["unit_code"]: [w["from"] for w in u["missed_windows"]] for u in report["units"]}
    assert missed["a1"] == [beijing(2026, 11, 18, 10, 30).isoformat(), beijing(2026, 11, 18, 16, 30).isoformat()]
    assert len(missed["gz-fgw"]) == 4
    own = exchange.call("presence_report", "2026-11-18", exchange.clerk("a1"))
    assert [u["unit_code"] for u in own["units"]] == ["a1"]


def login_event(event_id, at, occurred_at, user="clerk-a1", unit="a1"):
    data = {"user_id": user, "unit_code": unit, "roles": ["clerk"]}
    if at is not None:
        data["at"] = at
    return {"event_id": event_id, "event_type": "user_logged_in", "occurred_at": occurred_at, "data": data}


def test_a_delayed_login_counts_in_the_duty_window_it_happened_in_not_when_it_was_handled(exchange):
    exchange.units("a1")
    logged_in = beijing(2026, 11, 18, 9, 0)
    exchange.clock.now = beijing(2026, 11, 18, 17, 0)  # the event is handled eight hours late
    exchange.call("on_user_logged_in", login_event("e-late", logged_in.isoformat(), logged_in.isoformat()))
    # An event without its own time falls back to the envelope's.
    exchange.call("on_user_logged_in", login_event("e-env", None, beijing(2026, 11, 18, 11, 0).isoformat()))
    report = exchange.call("presence_report", "2026-11-18", exchange.clerk("a1"))
    missed = [w["from"] for w in report["units"][0]["missed_windows"]]
    assert beijing(2026, 11, 18, 8, 30).isoformat() not in missed  # 09:00 counts in 08:30–10:30
    assert beijing(2026, 11, 18, 10, 30).isoformat() not in missed  # 11:00 counts in 10:30–12:00
    assert beijing(2026, 11, 18, 16, 30).isoformat() in missed  # not at 17:00, when it was handled


def test_a_login_time_in_the_future_or_malformed_is_the_handling_time(exchange):
    exchange.units("a1")
    exchange.clock.now = beijing(2026, 11, 18, 9, 0)
    exchange.call("on_user_logged_in", login_event("e-future", beijing(2026, 11, 18, 15, 0).isoformat(), "soon"))
    report = exchange.call("presence_report", "2026-11-18", exchange.clerk("a1"))
    missed = [w["from"] for w in report["units"][0]["missed_windows"]]
    assert beijing(2026, 11, 18, 8, 30).isoformat() not in missed
    assert beijing(2026, 11, 18, 14, 30).isoformat() in missed


def test_a_schedule_listing_a_date_of_another_year_is_a_domain_refusal_and_a_non_boolean_working_a_400(exchange):
    """The path names the year; a well-formed day of another year breaks the rule (422), the document
    allows it. ``working`` is JSON true or false: 0 is not a boolean (400), and nothing is loaded."""
    operator = {"user_id": "op-1", "unit_code": "operator", "roles": ["operator"]}
    other_year = {"source": "通知", "days": [{"date": "2000-01-01", "working": False}]}
    refused = exchange.refused("load_calendar", 2099, other_year, operator)
    assert (refused.code, refused.status, list(refused.fields)) == ("INVALID_CALENDAR", 422, ["days"])
    not_boolean = {"source": "通知", "days": [{"date": "2099-01-01", "working": 0}]}
    refused = exchange.refused("load_calendar", 2099, not_boolean, operator)
    assert (refused.code, refused.status) == ("VALIDATION_ERROR", 400)
    no_date = {"source": "通知", "days": [{"working": False}, {"date": "2099-01-02", "working": True}]}
    refused = exchange.refused("load_calendar", 2099, no_date, operator)  # not a 500: the day without a date
    assert (refused.code, list(refused.fields["days"][0])) == ("VALIDATION_ERROR", ["date"])
    assert exchange.session.scalars(select(CalendarDay)).all() == []


def test_an_office_system_polling_every_few_seconds_is_recorded_present_once_a_minute(exchange):
    exchange.service.recent_presence = RecentPresence()  # as the running service has it, one per process
    exchange.units("a1")
    exchange.clock.now = beijing(2026, 11, 18, 9, 0)
    for _ in range(12):  # a minute of polls, every five seconds: one write, not twelve
        exchange.call("inbox", exchange.clerk("a1"))
        exchange.clock.advance(seconds=5)
    assert presence_rows(exchange) == [("clerk-a1", beijing(2026, 11, 18, 9, 0), "inbox")]
    exchange.call("inbox", exchange.clerk("a1"))  # 09:01: a minute since the last record
    exchange.call("inbox", exchange.clerk("a1", user_id="clerk-a1-2"))  # another clerk: recorded at once
    exchange.clock.now = beijing(2026, 11, 18, 11, 0)
    exchange.call("inbox", exchange.clerk("a1"))
    assert presence_rows(exchange)[1:] == [("clerk-a1", beijing(2026, 11, 18, 9, 1), "inbox"),
                                           ("clerk-a1-2", beijing(2026, 11, 18, 9, 1), "inbox"),
                                           ("clerk-a1", beijing(2026, 11, 18, 11, 0), "inbox")]
    report = exchange.call("presence_report", "2026-11-18", exchange.clerk("a1"))
    missed = [w["from"] for w in report["units"][0]["missed_windows"]]
    assert {beijing(2026, 11, 18, 8, 30).isoformat(), beijing(2026, 11, 18, 10, 30).isoformat()}.isdisjoint(missed)


def presence_rows(exchange):
    return [(p.user_id, p.seen_at, p.via) for p in exchange.session.scalars(select(Presence).order_by(Presence.id))]
