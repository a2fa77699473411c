"""Urgent documents reach people by SMS (001 §21–22), with real services, broker and PostgreSQL:
each recipient unit's clerks and leader get exactly one SMS naming the sending unit, the number,
the (cut) title and the due time in Beijing; a unit without SMS gets none and the record says
why; the notifications list is the proof, for the sender and each recipient; and a notify
killed between claiming a step and queueing its messages loses nothing and doubles nothing.
Messages stay ``queued`` here: sending them to Twilio is delivery's part."""
import itertools
import json
import os
import subprocess
import sys
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import serialization

from conftest import CHANGED_PASSWORD, Databases, active_unit, operator_login, person, wait_until, when_known

TITLE = ("关于进一步做好全市冬春季森林草原防灭火和安全生产隐患排查整治工作的紧急通知"
         "（请各单位务必于今日内传达至基层并将落实情况于次日上午前报送市应急管理局）")
NUMBERS = itertools.count(13900139000 + uuid.uuid4().int % 800)  # one number a person, as in life


def reachable_unit(stack, operator, code, name, sms=True, roles=("clerk", "leader")):
    """An active unit whose people have their own mobiles, filed as its contacts (SMS on or off)."""
    active_unit(operator, code, name)
    people = {role: person(stack, operator, code, role) for role in ("admin", *roles)}
    for one in people.values():
        changed = operator.put(f"/api/v1/users/{one.user_id}/mobile", json={"mobile": str(next(NUMBERS))})
        assert changed.status_code == 200, changed.text
    filed = operator.put(f"/api/v1/units/{code}/contacts", json={
        "admin_user_id": people["admin"].user_id, "clerk_user_ids": [people["clerk"].user_id],
        "leader_user_id": people["leader"].user_id if "leader" in people else people["admin"].user_id,
        "sms_enabled": sms})
    assert filed.status_code == 200, filed.text
    return people


def sealed_sender(stack, operator, tag):
    code = f"s-{tag}"
    people = reachable_unit(stack, operator, code, "广州市人民政府办公厅", roles=("clerk",))
    body = {"unit_code": code, "custody": {"required_approvals": 1, "custodian_user_ids": [people["clerk"].user_id]}}
    applied = when_known(lambda: operator.post("/api/v1/seals", json=body), message="the seal service to know it")
    assert operator.post(f"/api/v1/seals/{applied.json()['serial']}/approve").status_code == 200
    return code, people["clerk"]


def send_urgent(clerk, recipients, doc_number):
    clerk = clerk.api
    metadata = {"doc_number": doc_number, "title": TITLE, "signer": "李四", "urgency": "extra_urgent",
                "secrecy": "none", "main_recipients": recipients}
    sent = when_known(lambda: clerk.post("/api/v1/documents", data={"metadata": json.dumps(metadata)},
                                         files=[("body", ("正文.html", b"<p>body</p>"))]),
                      message="the exchange to know the units")
    assert sent.status_code == 201, sent.text
    return sent.json()


def beijing(due_at: str) -> str:
    return datetime.fromisoformat(due_at).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")


def gongwen(home, *args, env=None):
    return subprocess.run([sys.executable, "-m", "gongwen_cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {}), "GONGWEN_HOME": str(home), "COLUMNS": "200"})


def test_an_urgent_document_reaches_each_units_clerks_and_leader_once_and_the_list_proves_it(stack, tmp_path):
    operator, dbs, tag = operator_login(stack), Databases(stack), uuid.uuid4().hex[:6]
    sender, clerk = sealed_sender(stack, operator, tag)
    units = {f"r{n}-{tag}": reachable_unit(stack, operator, f"r{n}-{tag}", f"收文单位{n}") for n in range(3)}
    silent = f"q-{tag}"
    quiet_people = reachable_unit(stack, operator, silent, "未开通短信单位", sms=False)
    doc_number = f"穗府办〔2026〕{tag}号"
    document = send_urgent(clerk, [*units, silent], doc_number)
    due = {r["unit_code"]: r["due_at"] for r in document["receipts"]}

    wait_until(lambda: dbs.scalar("notify", "SELECT count(*) FROM messages WHERE document_id = :d",
                                  d=document["id"]) == 6, timeout=60, message="six SMS queued")
    rows = dbs.rows("notify", "SELECT user_id, unit_code, channel, status, body, \"to\" FROM messages "
                              "WHERE document_id = :d", d=document["id"])
    told = {(row[0], row[1]) for row in rows}
    assert told == {(people[role].user_id, code) for code, people in units.items() for role in ("clerk", "leader")}
    for _, code, channel, status, body, _ in rows:
        assert channel == "sms" and status in ("queued", "sending", "sent", "delivered")
        assert "广州市人民政府办公厅" in body and doc_number in body and f"{beijing(due[code])}（北京时间）" in body
        assert TITLE[:12] in body and TITLE not in body and "…" in body  # cut to the segment budget
        assert "回复" not in body and "/l/" in body
    assert len({row[5] for row in rows}) == 6  # each to its own person's number
    # Sent through the real twilio client to the fake Twilio, whose signed callbacks say delivered.
    wait_until(lambda: dbs.scalar("notify", "SELECT count(*) FROM messages WHERE document_id = :d AND status = "
                                            "'delivered'", d=document["id"]) == 6, timeout=90, message="delivered")

    as_sender = wait_until(lambda: (r := clerk.api.get(f"/api/v1/documents/{document['id']}/notifications")).json()
                           .get("items") and len(r.json()["items"]) == 8 and r, message="the sender's proof")
    items = as_sender.json()["items"]
    assert {(i["unit_code"], i["role"], i["channel"], i["status"]) for i in items if i["unit_code"] in units} == {
        (code, role, "sms", "delivered") for code in units for role in ("clerk", "leader")}
    assert {(i["user_id"], i["status"], i["reason"]) for i in items if i["unit_code"] == silent} == {
        (quiet_people["clerk"].user_id, "skipped", "sms_not_enabled"),
        (quiet_people["leader"].user_id, "skipped", "sms_not_enabled")}
    assert all(i["to"] is None or (i["to"].startswith("+86 139****") and len(i["to"]) == 15) for i in items)
    assert dbs.scalar("notify", "SELECT count(*) FROM messages WHERE unit_code = :u", u=silent) == 0

    first = next(iter(units))
    as_recipient = units[first]["clerk"].api.get(f"/api/v1/documents/{document['id']}/notifications")
    assert as_recipient.status_code == 200, as_recipient.text
    assert {i["unit_code"] for i in as_recipient.json()["items"]} == {first}
    stranger = quiet_people["admin"].api  # a recipient unit too, but of its own rows only
    assert {i["unit_code"] for i in stranger.get(f"/api/v1/documents/{document['id']}/notifications")
            .json()["items"]} == {silent}
    assert operator.get("/api/v1/documents/no-such-document/notifications").status_code == 404

    # The same proof from the command line, as the sender's clerk.
    key_file = tmp_path / "clerk.pem"
    key_file.write_bytes(clerk.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    logged = gongwen(tmp_path, "login", "--username", clerk.username, "--key-file", str(key_file),
                     "--gateway", stack.gateway_url, env={"GONGWEN_PASSWORD": CHANGED_PASSWORD})
    assert logged.returncode == 0, logged.stderr
    listed = gongwen(tmp_path, "notifications", document["id"], "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["items"] == items
    shown = gongwen(tmp_path, "notifications", document["id"])
    assert shown.returncode == 0 and "sms_not_enabled" in shown.stdout and "delivered" in shown.stdout, shown.stdout
    refused = gongwen(tmp_path, "notifications", str(uuid.uuid4()))
    assert refused.returncode == 3 and json.loads(refused.stderr)["error"] == "NOT_FOUND"  # refused, no traceback


def test_a_notify_killed_between_claiming_a_step_and_queueing_it_loses_nothing_and_doubles_nothing(make_stack):
    stack = make_stack()
    operator, dbs, tag = operator_login(stack), Databases(stack), uuid.uuid4().hex[:6]
    sender, clerk = sealed_sender(stack, operator, tag)
    recipient = f"k-{tag}"
    people = reachable_unit(stack, operator, recipient, "收文单位")
    stack.stop_service("notify")
    [crashing] = stack.start_service("notify", env={"GONGWEN_FAULTS": "notify.step.after_claim=exit",
                                                    "NOTIFY_CLAIM_LEASE": "3"})
    document = send_urgent(clerk, [recipient], f"穗府办〔2026〕{tag}号")
    wait_until(lambda: not crashing.alive, timeout=60, message="notify to die right after its claim")
    claimed = dbs.rows("notify", "SELECT status, claimed_by FROM escalation_steps WHERE document_id = :d",
                       d=document["id"])
    assert claimed and all(status == "pending" for status, _ in claimed) and any(by for _, by in claimed)
    assert dbs.scalar("notify", "SELECT count(*) FROM messages WHERE document_id = :d", d=document["id"]) == 0

    stack.start_service("notify", env={"NOTIFY_CLAIM_LEASE": "3"})
    wait_until(lambda: dbs.scalar("notify", "SELECT count(*) FROM escalation_steps WHERE document_id = :d AND "
                                            "status = 'fired'", d=document["id"]) == 2, timeout=60,
               message="the claimed steps fired once their lease ran out")
    wait_until(lambda: dbs.scalar("notify", "SELECT count(*) FROM messages WHERE document_id = :d",
                                  d=document["id"]) == 2, timeout=30, message="their messages queued")
    assert sorted(dbs.rows("notify", "SELECT user_id FROM messages WHERE document_id = :d", d=document["id"])) == \
        sorted([(people["clerk"].user_id,), (people["leader"].user_id,)])
    assert dbs.scalar("notify", "SELECT count(*) FROM notifications WHERE document_id = :d",
                      d=document["id"]) == 2
