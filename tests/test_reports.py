"""The supervision report through the real suite (services, broker, PostgreSQL): a few documents,
one signed for after its (one-minute) urgent deadline — the stack's clock cannot be moved, so this
stack's urgent deadlines are one minute and the test signs after the exchange has announced the
receipt overdue; one never signed, one returned, one served on paper. Each format downloads; the
HTML opens in headless Chromium, whose screenshot and DOM show every chart drawn; the CSV and the
PDF carry the JSON's numbers; a unit's clerk sees its own unit, staff nothing; `gongwen report`
writes the file."""
import csv
import io
import json
import re
import subprocess
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from pypdf import PdfReader

from conftest import Databases, operator_login, person, wait_until, when_known
from gongwen_archive.domain import report_formats
from tests.test_cli_documents import clerk_in_cli, gongwen
from tests.test_documents import sealed_unit, send, system_of, unit


@pytest.fixture(scope="module")
def stack(one_minute_stack):
    """The session's stack whose urgent documents fall due one minute after they are sent."""
    return one_minute_stack


def period():
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    return {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()}


def begin_month(stack) -> dict:
    """Four documents and the steps taken on time; the urgent one's minute then runs
    (``late_signing`` in conftest.py begins this and the evidence story together)."""
    operator = operator_login(stack)
    a, clerk = sealed_unit(stack, operator)
    tag = uuid.uuid4().hex[:4]
    b, c = unit(operator, f"rb-{tag}", "督查乙单位"), unit(operator, f"rc-{tag}", "督查丙单位")
    systems = {code: system_of(stack, operator, code) for code in (b, c)}

    def sent(urgency, recipients, n):
        metadata = {"doc_number": f"穗督〔2026〕{tag}{n}号", "title": f"关于督查事项{n}的通知", "signer": "李四",
                    "urgency": urgency, "secrecy": "none", "main_recipients": recipients}
        reply = when_known(lambda: send(clerk, metadata), message="the exchange to know the units")
        assert reply.status_code == 201, reply.text
        return reply.json()["id"]

    late_doc, never_doc = sent("urgent", [b, c], 1), sent("extra_urgent", [b], 2)
    normal_doc, paper_doc = sent("normal", [b, c], 3), sent("normal", [c], 4)
    step(systems, b, late_doc, "sign")  # b: on time
    step(systems, b, normal_doc, "sign")
    step(systems, c, normal_doc, "return", {"reason": "文号有误"})
    served = clerk.post(f"/api/v1/documents/{paper_doc}/paper-delivery", json={"unit_code": c, "note": "系统故障"})
    assert served.status_code == 200, served.text
    return {"operator": operator, "a": a, "b": b, "c": c, "late_doc": late_doc, "never_doc": never_doc,
            "systems": systems}


def step(systems, code, doc, action, body=None):
    reply = systems[code].post(f"/api/v1/documents/{doc}/{action}", json=body)
    assert reply.status_code == 200, reply.text


@pytest.fixture(scope="module")
def month(stack, late_signing):
    begun, dbs = late_signing["month"], Databases(stack)
    c, late_doc = begun["c"], begun["late_doc"]
    # c signs the urgent one only after the exchange announced it overdue (its sweep, past the minute)
    wait_until(lambda: dbs.rows("archive", "SELECT seq FROM ledger_entries WHERE document_id = :d AND "
                                           "event_type = 'receipt_overdue'", d=late_doc), timeout=150, interval=1,
               message="the urgent receipt to fall overdue")
    step(begun["systems"], c, late_doc, "sign")
    wait_until(lambda: dbs.scalar("archive", "SELECT count(*) FROM ledger_entries WHERE document_id = :d AND "
                                             "event_type = 'receipt_signed'", d=late_doc) == 2,
               message="the archive to take the late signature (b's and c's)")
    return {**{k: v for k, v in begun.items() if k != "systems"}, "stack": stack}


def report_of(api, fmt="json"):
    reply = api.get("/api/v1/reports/supervision", params={**period(), "format": fmt})
    assert reply.status_code == 200, reply.text[:300]
    return reply


def test_the_report_counts_what_happened_to_each_unit_through_the_real_stack(month):
    report = report_of(month["operator"]).json()
    units = {u["unit_code"]: u for u in report["units"]}
    b, c = units[month["b"]], units[month["c"]]
    assert (b["received"], b["signed_on_time"], b["signed_late"], b["never_signed"]) == (3, 2, 0, 1)
    assert (c["received"], c["signed_late"], c["returned"], c["paper_served"]) == (3, 1, 1, 1)
    assert c["electronic"] == {**c["electronic"], "electronic": 1, "paper": 1, "rate": 0.5, "meets_target": False}
    late = [r for r in report["late"] if r["unit_code"] == month["c"]]
    assert [r["document_id"] for r in late] == [month["late_doc"]] and late[0]["late_minutes"] > 0
    assert c["time_to_sign_minutes"]["urgent"]["count"] == 1 and c["time_to_sign_minutes"]["urgent"]["median"] > 1
    never = [r for r in report["never_signed"] if r["unit_code"] == month["b"]]
    assert [r["document_id"] for r in never] == [month["never_doc"]]
    evidence = {(e["document_id"], e["unit_code"]): e for e in report["urgent_late_evidence"]}
    assert set(evidence) >= {(month["late_doc"], month["c"]), (month["never_doc"], month["b"])}
    assert all(e["fault"] in ("sender", "receiver", "undetermined") for e in evidence.values())
    assert units[month["a"]]["presence"] is not None or report["presence_note"]


def test_a_units_clerk_sees_its_own_unit_and_staff_are_refused(month):
    stack, operator = month["stack"], month["operator"]
    mine = report_of(person(stack, operator, month["b"], "clerk").api).json()
    assert [u["unit_code"] for u in mine["units"]] == [month["b"]]
    assert {r["unit_code"] for r in mine["never_signed"] + mine["late"]} <= {month["b"]}
    staff = person(stack, operator, month["b"], "staff").api
    refused = staff.get("/api/v1/reports/supervision", params=period())
    assert refused.status_code == 403 and refused.json()["error"] == "FORBIDDEN"
    bad = operator.get("/api/v1/reports/supervision", params={"from": "2026-12-31", "to": "2026-12-01"})
    assert bad.status_code == 422 and bad.json()["error"] == "INVALID_PERIOD" and "to" in bad.json()["fields"]
    bad = operator.get("/api/v1/reports/supervision", params={"from": "2026-12-01", "to": "2026-12-31",
                                                              "format": "xlsx"})
    assert bad.status_code == 400 and bad.json()["error"] == "VALIDATION_ERROR" and "format" in bad.json()["fields"]


def test_each_format_downloads_with_its_media_type_and_the_same_numbers(month):
    operator = month["operator"]
    report = report_of(operator).json()
    for fmt, media in (("csv", "text/csv"), ("html", "text/html"), ("pdf", "application/pdf")):
        reply = report_of(operator, fmt)
        assert reply.headers["Content-Type"].startswith(media) and "attachment" in reply.headers["Content-Disposition"]
    rows = {r["unit_code"]: r for r in csv.DictReader(io.StringIO(report_of(operator, "csv").content.decode(
        "utf-8-sig")))}
    counted = ("received", "signed_on_time", "signed_late", "never_signed", "returned", "paper_served")
    for line in report["units"]:
        assert [int(rows[line["unit_code"]][k]) for k in counted] == [line[k] for k in counted]
    words = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(report_of(operator, "pdf").content))
                     .pages).split()
    for row in report_formats.unit_rows(report):
        cells = [c if isinstance(c, str) else report_formats._number(c) for c in row]
        at = words.index(cells[0])
        assert words[at:at + len(cells)] == cells
    for late in report["late"]:
        assert late["doc_number"] in words and report_formats._number(late["late_minutes"]) in words


def chromium(*args):
    done = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--window-size=1400,1800", *args], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.decode()


def pixels_of(image, colour):
    rgb = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return sum(count for count, value in image.getcolors(1 << 24) if value[:3] == rgb)


def test_the_html_report_draws_every_chart_in_headless_chromium(month, tmp_path):
    report = report_of(month["operator"]).json()
    page = tmp_path / "report.html"
    page.write_bytes(report_of(month["operator"], "html").content)
    dom = chromium("--dump-dom", page.as_uri())
    assert "<script" not in dom and not re.search(r'(src|href)="https?:', dom)  # stands alone, offline
    bars = re.findall(r'<g class="unit-bar" data-unit="([^"]+)"', dom)
    assert bars == [u["unit_code"] for u in report["units"]]  # one bar per unit
    for line in report["units"]:
        drawn = re.search(rf'data-unit="{re.escape(line["unit_code"])}".*?</g>', dom).group(0)
        assert drawn.count("<rect") == sum(1 for o in report_formats.OUTCOMES if line[o])
    columns = re.findall(r'<g class="bin" data-from="\d+" data-count="(\d+)"><rect [^>]*height="([\d.]+)"', dom)
    assert len(columns) == len(report["distribution"]) and sum(int(n) for n, _ in columns) > 0
    assert all((float(h) > 0) == (int(n) > 0) for n, h in columns)  # the distribution is drawn to its counts
    shot = tmp_path / "report.png"
    chromium(f"--screenshot={shot}", page.as_uri())
    image = Image.open(shot).convert("RGB")
    legend = 10 * 10  # each colour's legend square; a drawn bar or column is far larger
    for outcome in ("signed_on_time", "signed_late", "never_signed", "returned", "paper_served"):
        assert pixels_of(image, report_formats.COLOURS[outcome]) > 5 * legend, outcome
    assert pixels_of(image, report_formats.DISTRIBUTION_COLOUR) > 5 * legend


def test_gongwen_report_writes_the_file_a_clerk_asked_for(month, tmp_path):
    clerk_in_cli(month["stack"], month["operator"], month["c"], tmp_path, "rc")
    target = tmp_path / "c.csv"
    done = gongwen(tmp_path, "report", "--from", period()["from"], "--to", period()["to"], "--format", "csv",
                   "--out", str(target), "--profile", "rc")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    assert [r["unit_code"] for r in rows] == [month["c"], "TOTAL"] and rows[0]["signed_late"] == "1"
    refused = gongwen(tmp_path, "report", "--month", "2026-12", "--from", "2026-12-01", "--profile", "rc")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    backwards = gongwen(tmp_path, "report", "--from", "2026-12-31", "--to", "2026-12-01", "--profile", "rc")
    assert backwards.returncode == 3 and json.loads(backwards.stderr)["error"] == "INVALID_PERIOD"
    assert "--from on or before --to" in json.loads(backwards.stderr)["next"]
