"""The notification evidence of 001 §21 end to end (real services, broker, PostgreSQL, the fake
Twilio): an extra-urgent document to a unit with SMS and one without; the fake Twilio's signed
callbacks move each SMS and call to ``delivered``; every status is a notify event the archive's
ledger keeps in order; the completed document's archival package lists every message with its
outcome; and the supervision report says whose fault the late signing was — the receiver's, with
the delivered line, where the notice arrived; the sender's, with the reason, where none could go.
It runs on the session's one-minute stack (``one_minute_stack``: urgent deadlines of a minute, as
its clock cannot be moved), so the receipts fall overdue while the test waits, as in
``tests/test_reports.py``."""
import io
import json
import uuid
import zipfile
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from conftest import Databases, operator_login, wait_until
from tests.test_documents import system_of
from tests.test_notifications import reachable_unit, sealed_sender, send_urgent

RANK = {"queued": 0, "sent": 1, "delivered": 2}


@pytest.fixture(scope="module")
def stack(one_minute_stack):
    return one_minute_stack


def delivered_all(dbs, document_id, count):
    """Every message of the document delivered, and at least ``count`` of them."""
    rows = dbs.rows("notify", "SELECT m.status FROM messages m JOIN notifications n ON n.message_id = m.id "
                              "WHERE n.document_id = :d", d=document_id)
    return len(rows) >= count and all(status == "delivered" for status, in rows)


def begin_story(stack) -> dict:
    """Up to the urgent send, whose minute then runs (``late_signing`` in conftest.py begins this
    and tests/test_reports.py's month together, so one minute passes for both)."""
    operator, tag = operator_login(stack), uuid.uuid4().hex[:6]
    sender, clerk = sealed_sender(stack, operator, tag)
    told, silent = f"ev-{tag}", f"eq-{tag}"
    told_people = reachable_unit(stack, operator, told, "证据收文单位")
    reachable_unit(stack, operator, silent, "证据未开通短信单位", sms=False)
    document = send_urgent(clerk, [told, silent], f"穗证〔2026〕{tag}号")
    return {"operator": operator, "tag": tag, "clerk": clerk, "told": told, "silent": silent,
            "told_people": told_people, "doc": document["id"]}


@pytest.fixture(scope="module")
def story(stack, late_signing):
    begun, dbs = late_signing["evidence"], Databases(stack)
    operator, tag, clerk, told, silent, doc = (begun[k] for k in ("operator", "tag", "clerk", "told", "silent", "doc"))
    # the alert to the told unit's clerk and leader, through the real twilio client and the fake's callbacks
    wait_until(lambda: delivered_all(dbs, doc, 2), timeout=90, message="the urgent SMS delivered")
    # past the one-minute deadline: the exchange's overdue sweep, then the steps from the due time
    # (the told unit's leader called, the sender's clerk asked to chase) fire and are delivered too
    wait_until(lambda: dbs.rows("archive", "SELECT seq FROM ledger_entries WHERE document_id = :d AND "
                                           "event_type = 'receipt_overdue'", d=doc), timeout=150, interval=1,
               message="the urgent receipts to fall overdue")
    wait_until(lambda: delivered_all(dbs, doc, 5), timeout=90, message="the call and the chases delivered")
    systems = {code: system_of(stack, operator, code) for code in (told, silent)}
    for code in (told, silent):  # both sign late, then register: the document completes
        for action, body in (("sign", None), ("register", {"registration_number": f"收〔2026〕{tag}号"})):
            reply = systems[code].post(f"/api/v1/documents/{doc}/{action}", json=body)
            assert reply.status_code == 200, reply.text
    wait_until(lambda: dbs.rows("archive", "SELECT sha256 FROM archival_packages WHERE document_id = :d", d=doc),
               timeout=90, message="the completed document's package")
    return {**begun, "dbs": dbs, "systems": systems}


def ledger_statuses(story):
    rows = story["dbs"].rows("archive", "SELECT seq, leaf_input FROM ledger_entries WHERE document_id = :d AND "
                                        "source = 'notify' AND event_type = 'message_status' ORDER BY seq",
                             d=story["doc"])
    return [json.loads(bytes(leaf))["data"] for _, leaf in rows]


def test_every_status_of_every_sms_and_call_is_in_the_ledger_in_order(story):
    events = ledger_statuses(story)
    messages = story["dbs"].rows("notify", "SELECT n.id, m.id, m.channel FROM notifications n JOIN messages m "
                                           "ON m.id = n.message_id WHERE n.document_id = :d", d=story["doc"])
    assert len(messages) >= 4 and {channel for _, _, channel in messages} == {"sms", "voice"}
    for notification_id, message_id, _ in messages:
        steps = [e["status"] for e in events if e["notification_id"] == notification_id]
        assert steps[0] == "queued" and steps[-1] == "delivered", steps  # each status once, forward only
        assert [RANK[s] for s in steps] == sorted({RANK[s] for s in steps})
        assert {e["message_id"] for e in events if e["notification_id"] == notification_id} == {message_id}
    last = [e for e in events if e["status"] == "delivered"]
    assert all(e["sent_at"] and e["delivered_at"] and e["to"].startswith("+86 139****") for e in last)
    skipped = [e for e in events if e["unit_code"] == story["silent"] and e["role"] != "sender_clerk"]
    assert len(skipped) == 3 and all((e["status"], e["reason"], e["message_id"]) == ("skipped", "sms_not_enabled", None)
                           for e in skipped)


def test_the_archival_package_lists_every_message_with_its_outcome(story, tmp_path):
    reply = story["systems"][story["told"]].get(f"/api/v1/documents/{story['doc']}/archive")
    assert reply.status_code == 200, reply.text[:300]
    with zipfile.ZipFile(io.BytesIO(reply.content)) as package:
        [name] = [n for n in package.namelist() if n.endswith("/data/notifications.json")]
        evidence = json.loads(package.read(name))
    listed = story["clerk"].api.get(f"/api/v1/documents/{story['doc']}/notifications").json()["items"]
    assert evidence == sorted(listed, key=lambda item: (item["created_at"], item["id"]))  # every unit's
    sent = [item for item in evidence if item["status"] != "skipped"]
    assert len(sent) >= 4 and all(item["status"] == "delivered" and item["delivered_at"] for item in sent)
    assert {item["role"] for item in sent if item["unit_code"] == story["told"]} >= {"clerk", "leader"}
    skipped = [item for item in evidence if item["unit_code"] == story["silent"] and item["status"] == "skipped"]
    assert skipped and {item["reason"] for item in skipped} == {"sms_not_enabled"}


def test_the_report_says_the_receiver_was_told_and_the_silent_unit_was_not(story):
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    reply = story["operator"].get("/api/v1/reports/supervision", params={
        "from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat(), "format": "json"})
    assert reply.status_code == 200, reply.text[:300]
    judged = {item["unit_code"]: item for item in reply.json()["urgent_late_evidence"]
              if item["document_id"] == story["doc"]}
    told, silent = judged[story["told"]], judged[story["silent"]]
    assert (told["outcome"], told["fault"], told["note"]) == ("signed_late", "receiver", "notified and delivered")
    delivered = [line for line in told["notifications"] if line["status"] == "delivered"]
    assert {line["user_id"] for line in delivered} >= {story["told_people"]["clerk"].user_id,
                                                       story["told_people"]["leader"].user_id}
    assert all(line["delivered_at"] and line["told_at"] <= line["delivered_at"] for line in delivered)
    assert all(line["role"] != "sender_clerk" for line in told["notifications"])  # chasing is no notice
    assert (silent["fault"], silent["note"]) == ("sender", "not notified: sms_not_enabled")
    assert {(line["status"], line["reason"]) for line in silent["notifications"]} == {("skipped", "sms_not_enabled")}
