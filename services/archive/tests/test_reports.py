"""Supervision reports in the archive worker (SQLite, a moved clock): a constructed month with known
lateness gives per-unit counts, medians, p90s and late lists equal to what this test computes on
its own from the raw events; units see only themselves; every format carries the same numbers."""
import csv
import io
import random
import statistics
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader

from gongwen_archive.domain import report_formats, reports
from gongwen_archive.models import Base, UnitView

from .test_ledger import OPERATOR, Archive, envelope

UNITS = ("gz-b", "gz-c", "gz-d")
DUE = {"normal": timedelta(days=1), "urgent": timedelta(minutes=60), "extra_urgent": timedelta(minutes=30)}
START, END = datetime(2026, 11, 30, 16, 0, tzinfo=UTC), datetime(2026, 12, 31, 16, 0, tzinfo=UTC)  # Dec, Beijing
REPORTED_AT = datetime(2027, 1, 6, 2, 0, tzinfo=UTC)


def clerk(unit, roles=("clerk",)):
    return {"user_id": f"u-{unit}", "unit_code": unit, "roles": list(roles)}


class Month:
    """A December of documents from gz-a to gz-b/c/d: signed early or late, returned, served on
    paper, never signed, one resent; a few just outside the month; SMS proof for some urgent ones.
    ``events`` keeps every raw event, in time order, for the independent computation."""

    def __init__(self, archive, seed=13):
        self.archive, self.events, rng = archive, [], random.Random(seed)
        plan = []
        for n in range(60):
            sent = START + timedelta(minutes=rng.randrange(-600, 31 * 24 * 60 + 600))  # some outside the month
            urgency = rng.choice(("normal", "normal", "urgent", "extra_urgent"))
            plan.append((sent, urgency, rng.sample(UNITS, rng.randint(1, 3)), n))
        for sent, urgency, recipients, n in sorted(plan):
            self.document(sent, urgency, recipients, n, rng)
        self.events.sort(key=lambda e: e[1]["occurred_at"])
        for source, event in self.events:
            archive.clock.now = datetime.fromisoformat(event["occurred_at"])
            archive.take(source, event)
        archive.clock.now = REPORTED_AT

    def document(self, sent, urgency, recipients, n, rng):
        document_id = str(uuid.uuid4())
        summary = {"id": document_id, "issuer_code": "gz-a", "doc_number": f"穗府办〔2026〕{n + 1}号",
                   "title": f"关于第{n + 1}项工作的通知", "urgency": urgency, "sent_at": sent.isoformat(),
                   "status": "sent"}
        receipts = [{"receipt_id": str(uuid.uuid4()), "unit_code": code, "role": "main", "generation": 1,
                     "due_at": (sent + DUE[urgency]).isoformat()} for code in recipients]
        self.add("exchange", "document_sent", {**summary, "receipts": receipts}, sent)
        for receipt in receipts:
            due = datetime.fromisoformat(receipt["due_at"])
            fate = rng.choice(("early", "early", "late", "late", "never", "returned", "paper"))
            if fate in ("early", "late"):
                window = (due - sent).total_seconds() / 60
                delay = rng.uniform(1, window) if fate == "early" else window + rng.uniform(1, 3000)
                signed = sent + timedelta(minutes=delay)
                self.add("exchange", "document_read", {**summary, "unit_code": receipt["unit_code"],
                                                       "receipt_id": receipt["receipt_id"],
                                                       "read_at": signed.isoformat()}, signed)
                if fate == "late":
                    self.add("exchange", "receipt_overdue", {**summary, "unit_code": receipt["unit_code"],
                                                             "receipt_id": receipt["receipt_id"],
                                                             "due_at": receipt["due_at"]}, due)
                self.add("exchange", "receipt_signed", {**summary, "receipt": {
                    **receipt, "state": "signed", "signed_at": signed.isoformat()}}, signed)
                self.add("exchange", "receipt_registered", {**summary, "receipt": {**receipt, "state": "registered"}},
                         signed + timedelta(minutes=5))
            elif fate == "returned":
                returned = sent + timedelta(minutes=10)
                self.add("exchange", "document_returned", {**summary, "receipt": {**receipt, "state": "returned"}},
                         returned)
                if n % 2:  # resent the next day: a new receipt, due again
                    again = returned + timedelta(days=1)
                    fresh = {**receipt, "receipt_id": str(uuid.uuid4()), "generation": 2,
                             "due_at": (again + DUE[urgency]).isoformat()}
                    self.add("exchange", "document_sent", {**summary, "resend": True, "receipts": [fresh]}, again)
                    self.add("exchange", "receipt_signed", {**summary, "receipt": {
                        **fresh, "state": "signed", "signed_at": (again + timedelta(minutes=7)).isoformat()}},
                        again + timedelta(minutes=7))
            elif fate == "paper":
                self.add("exchange", "receipt_paper_served", {**summary, "receipt": {**receipt,
                                                                                     "state": "paper_served"}},
                         sent + timedelta(minutes=20))
            if urgency != "normal" and fate in ("late", "never") and n % 3:
                told = sent + timedelta(minutes=2)
                message = {"message_id": str(uuid.uuid4()), "notification_id": str(uuid.uuid4()),
                           "document_id": document_id, "unit_code": receipt["unit_code"], "role": "clerk",
                           "channel": "sms", "to": "+86 138****8000", "created_at": sent.isoformat()}
                self.add("notify", "message_status", {**message, "status": "sent", "sent_at": told.isoformat(),
                                                      "at": told.isoformat()}, told)
                if n % 3 == 1:
                    delivered = told + timedelta(seconds=9)
                    self.add("notify", "message_status", {**message, "status": "delivered",
                                                          "sent_at": told.isoformat(),
                                                          "delivered_at": delivered.isoformat(),
                                                          "at": delivered.isoformat()}, delivered)

    def add(self, source, event_type, data, at):
        self.events.append((source, envelope(event_type, data, at.isoformat())))


@pytest.fixture
def month(sqlite_session):
    archive = Archive(sqlite_session(Base))
    for code in ("gz-a", *UNITS, "gz-e"):
        archive.session.add(UnitView(code=code, name=f"单位{code}", status="active", updated_at=START))
    archive.session.commit()
    archive.presence_asked = []

    def presence(day, actor):
        archive.presence_asked.append((day, actor["unit_code"]))
        units = [u for u in ("gz-a", *UNITS, "gz-e") if "operator" in actor["roles"] or u == actor["unit_code"]]
        working = datetime.fromisoformat(day).weekday() < 5
        missed = [{"from": f"{day}T08:30:00+08:00", "to": f"{day}T10:30:00+08:00"}]
        return {"date": day, "working_day": working,
                "units": [{"unit_code": u, "missed_windows": missed if u == "gz-c" else []} for u in units]}

    archive.service.exchange.worker_ctx = None  # no caller's deadline (a MagicMock's would read as 1970)
    archive.service.exchange.presence_report.call_async.side_effect = (
        lambda day, actor: type("Reply", (), {"result": lambda self: presence(day, actor)})())
    return Month(archive)


def expected_from(events):
    """The month's figures computed straight from the raw events, apart from the archive's code."""
    receipts, steps = {}, {}
    for source, event in events:
        data, at = event["data"], datetime.fromisoformat(event["occurred_at"])
        if source != "exchange":
            continue
        if event["event_type"] == "document_sent" and START <= at < END:
            for r in data["receipts"]:
                receipts[r["receipt_id"]] = {**r, "urgency": data["urgency"], "delivered": at,
                                             "due": datetime.fromisoformat(r["due_at"]), "doc": data["id"]}
        receipt_id = (data.get("receipt") or {}).get("receipt_id")
        if event["event_type"] == "receipt_signed":
            steps.setdefault(receipt_id, {})["signed"] = datetime.fromisoformat(data["receipt"]["signed_at"])
        elif event["event_type"] == "document_returned":
            steps.setdefault(receipt_id, {})["returned"] = at
        elif event["event_type"] == "receipt_paper_served":
            steps.setdefault(receipt_id, {})["paper"] = at
    per_unit = {}
    for receipt_id, r in receipts.items():
        unit = per_unit.setdefault(r["unit_code"], {"received": 0, "signed_on_time": 0, "signed_late": 0,
                                                    "never_signed": 0, "returned": 0, "paper_served": 0,
                                                    "late": [], "ttl": {}})
        unit["received"] += 1
        done = steps.get(receipt_id, {})
        if "signed" in done:
            unit["ttl"].setdefault(r["urgency"], []).append((done["signed"] - r["delivered"]).total_seconds() / 60)
            if done["signed"] > r["due"]:
                unit["signed_late"] += 1
                unit["late"].append((r["doc"], round((done["signed"] - r["due"]).total_seconds() / 60, 2)))
            else:
                unit["signed_on_time"] += 1
        elif "returned" in done:
            unit["returned"] += 1
        elif "paper" in done:
            unit["paper_served"] += 1
        else:
            unit["never_signed"] += 1  # every due_at is long past on REPORTED_AT
    return per_unit


def p90(values):
    return values[0] if len(values) == 1 else statistics.quantiles(values, n=10, method="inclusive")[8]


def test_a_constructed_month_reports_the_counts_medians_p90s_and_late_lists_the_raw_events_give(month):
    report = month.archive.call("supervision_report", "2026-12-01", "2026-12-31", "json", OPERATOR)
    expected = expected_from(month.events)
    units = {u["unit_code"]: u for u in report["units"]}
    assert set(units) == {"gz-a", *UNITS, "gz-e"}  # every active unit, those that received nothing too
    assert units["gz-e"]["received"] == 0 and units["gz-a"]["received"] == 0
    assert sum(e["signed_late"] for e in expected.values()) > 5 and sum(e["never_signed"] for e in expected.values())
    for code in UNITS:
        want, got = expected[code], units[code]
        for name in ("received", "signed_on_time", "signed_late", "never_signed", "returned", "paper_served"):
            assert got[name] == want[name], (code, name)
        assert got["pending"] == got["withdrawn"] == 0
        for urgency in ("normal", "urgent", "extra_urgent"):
            values = want["ttl"].get(urgency, [])
            timing = got["time_to_sign_minutes"][urgency]
            assert timing["count"] == len(values)
            if values:
                assert timing["median"] == pytest.approx(statistics.median(values), abs=0.02), (code, urgency)
                assert timing["p90"] == pytest.approx(p90(values), abs=0.02), (code, urgency)
        late = sorted((r["document_id"], r["late_minutes"]) for r in report["late"] if r["unit_code"] == code)
        want_late = sorted(want["late"])
        assert [d for d, _ in late] == [d for d, _ in want_late]
        assert [m for _, m in late] == pytest.approx([m for _, m in want_late], abs=0.02)
        assert got["late_minutes"]["max"] == pytest.approx(max(m for _, m in want["late"]), abs=0.02)
        served = got["signed_on_time"] + got["signed_late"]
        assert got["electronic"]["rate"] == pytest.approx(served / (served + want["paper_served"]), abs=1e-4)
    never = sum(1 for r in report["never_signed"])
    assert never == sum(e["never_signed"] for e in expected.values())
    assert report["totals"]["received"] == sum(e["received"] for e in expected.values())


def test_late_urgent_receipts_carry_the_notification_evidence_and_whose_fault_it_is(month):
    report = month.archive.call("supervision_report", "2026-12-01", "2026-12-31", "json", OPERATOR)
    evidence = report["urgent_late_evidence"]
    assert evidence and all(item["urgency"] in ("urgent", "extra_urgent") for item in evidence)
    faults = {item["fault"] for item in evidence}
    assert faults == {"sender", "receiver", "undetermined"}
    for item in evidence:
        if item["fault"] == "sender":
            assert item["notifications"] == [] and item["note"] == "no notification recorded"
        elif item["fault"] == "receiver":
            assert [n["status"] for n in item["notifications"]] == ["delivered"]
            assert item["notifications"][0]["channel"] == "sms" and item["notifications"][0]["delivered_at"]
        else:
            assert [n["status"] for n in item["notifications"]] == ["sent"]


def test_presence_and_the_electronic_rate_are_against_the_duty_windows_and_the_target(month):
    report = month.archive.call("supervision_report", "2026-12-01", "2026-12-31", "json", OPERATOR)
    units = {u["unit_code"]: u for u in report["units"]}
    weekdays = sum(1 for d in range(1, 32) if datetime(2026, 12, d).weekday() < 5)
    assert units["gz-c"]["presence"] == {**units["gz-c"]["presence"], "working_days": weekdays,
                                         "missed_windows": weekdays}
    assert units["gz-b"]["presence"]["missed_windows"] == 0
    assert len(month.archive.presence_asked) == 31
    assert report["electronic_target"] == 1.0 and report["totals"]["electronic"]["meets_target"] is False


def test_a_unit_admin_or_clerk_sees_only_its_own_unit_and_others_are_refused(month):
    archive = month.archive
    for roles in (("clerk",), ("admin",)):
        mine = archive.call("supervision_report", "2026-12-01", "2026-12-31", "json", clerk("gz-b", roles))
        assert [u["unit_code"] for u in mine["units"]] == ["gz-b"] and mine["scope"] == "gz-b"
        for listing in ("late", "never_signed", "returned", "urgent_late_evidence"):
            assert {r["unit_code"] for r in mine[listing]} <= {"gz-b"}
    assert {unit for _, unit in archive.presence_asked} == {"gz-b"}  # the exchange was asked as the clerk
    for roles in (("staff",), ("leader",), ("system",)):
        assert archive.refused("supervision_report", "2026-12-01", "2026-12-31", "json",
                               clerk("gz-b", roles)).code == "FORBIDDEN"


@pytest.mark.parametrize("first, last, format, field, code", [
    ("2026-13-01", "2026-12-31", "json", "from", "VALIDATION_ERROR"),
    (None, "2026-12-31", "json", "from", "VALIDATION_ERROR"),
    ("2026-12-01", "2026-12-31", "xlsx", "format", "VALIDATION_ERROR"),
    ("2026-12-31", "2026-12-01", "json", "to", "INVALID_PERIOD"),
    ("2025-01-01", "2026-12-31", "json", "to", "INVALID_PERIOD"),
    ("0001-01-01", "0001-01-02", "json", "from", "INVALID_PERIOD"),
    ("9999-12-30", "9999-12-31", "json", "to", "INVALID_PERIOD")])
def test_an_unusable_period_or_format_is_refused_with_the_field_named(month, first, last, format, field, code):
    refused = month.archive.refused("supervision_report", first, last, format, OPERATOR)
    assert refused.code == code and field in refused.fields


def test_csv_and_pdf_carry_the_same_numbers_as_the_json(month):
    archive = month.archive
    report = archive.call("supervision_report", "2026-12-01", "2026-12-31", "json", OPERATOR)
    text = report_formats.to_csv(report).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["unit_code"] for r in rows] == [u["unit_code"] for u in report["units"]] + ["TOTAL"]
    for row, unit in zip(rows, report["units"], strict=False):
        assert (int(row["received"]), int(row["signed_late"]), int(row["never_signed"])) == (
            unit["received"], unit["signed_late"], unit["never_signed"])
        assert row["urgent_median_minutes"] == str(unit["time_to_sign_minutes"]["urgent"]["median"] or "")
    pdf = PdfReader(io.BytesIO(report_formats.to_pdf(report)))
    words = " ".join(page.extract_text() for page in pdf.pages).split()
    for row in report_formats.unit_rows(report):
        cells = [c if isinstance(c, str) else report_formats._number(c) for c in row]
        at = words.index(cells[0])
        assert words[at:at + len(cells)] == cells, cells
    for late in report["late"]:
        assert report_formats._number(late["late_minutes"]) in words


def test_a_recalled_or_closed_receipt_is_withdrawn_not_counted_as_never_signed(sqlite_session):
    archive = Archive(sqlite_session(Base))
    sent = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    receipts = [{"receipt_id": str(uuid.uuid4()), "unit_code": code, "role": "main", "generation": 1,
                 "due_at": (sent + timedelta(hours=1)).isoformat()} for code in ("gz-b", "gz-c")]
    summary = {"id": str(uuid.uuid4()), "issuer_code": "gz-a", "urgency": "urgent", "status": "sent"}
    events = [("document_sent", {**summary, "receipts": receipts}, sent),
              ("receipt_closed", {**summary, "unit_code": "gz-c", "receipt_id": receipts[1]["receipt_id"],
                                  "closed_reason": "archived"}, sent + timedelta(minutes=5)),
              ("document_recalled", {**summary, "unit_codes": ["gz-b", "gz-c"]}, sent + timedelta(minutes=9))]
    for event_type, data, at in events:
        archive.take("exchange", envelope(event_type, data, at.isoformat()))
    archive.clock.now = REPORTED_AT
    totals = archive.call("supervision_report", "2026-12-01", "2026-12-31", "json", OPERATOR)["totals"]
    assert (totals["received"], totals["withdrawn"], totals["never_signed"]) == (2, 2, 0)


@pytest.mark.parametrize("setting, value", [
    ("REPORT_TIMEZONE", "Mars/Olympus"), ("REPORT_ELECTRONIC_TARGET", "1.5"), ("REPORT_ELECTRONIC_TARGET", "eighty"),
    ("REPORT_ELECTRONIC_TARGET", "nan")])
def test_report_settings_the_archive_cannot_use_stop_it_at_start(setting, value):
    with pytest.raises(ValueError, match=setting):
        reports.ReportSettings.from_config({setting: value})
    assert reports.ReportSettings.from_config({}) == reports.ReportSettings("Asia/Shanghai", 1.0)
