"""Who hears what, and when: urgent alerts, the escalation ladder with a moved clock, what
cancels it, and the carriers' rules (combine window, same text, daily cap, SMS not enabled)."""
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from gongwen_notify.models import EscalationStep

OPERATOR = {"user_id": "op", "unit_code": "operator", "roles": ["operator"]}
LADDER = {"steps": [
    {"after": "10m", "from": "sent", "audience": "recipient_clerks", "channel": "sms"},
    {"after": "20m", "from": "sent", "audience": "recipient_leader", "channel": "sms"},
    {"after": "30m", "from": "sent", "audience": "sender_clerks", "channel": "sms"},
    {"after": "30m", "from": "sent", "audience": "recipient_leader", "channel": "voice"}]}


def test_an_urgent_document_tells_each_recipient_units_clerks_and_leader_at_once_and_once(notify):
    notify.unit("sender")
    recipients = {code: notify.unit(code, clerks=2) for code in ("r1", "r2", "r3")}
    title = ("关于进一步做好全市冬春季森林草原防灭火和安全生产隐患排查整治工作的紧急通知"
             "（请各单位务必于今日内传达至基层）")
    document_id, receipts = notify.send("sender", list(recipients), title=title)
    notify.tick()
    notify.tick()  # a second run sends nothing more
    for code, people in recipients.items():
        for user_id in (*people["clerks"], people["leader"]):
            [message] = notify.messages(user_id=user_id)
            assert message.status == "queued" and message.channel == "sms" and message.unit_code == code
            due = notify.clock.now + timedelta(minutes=30)
            assert "sender单位" in message.body and "穗府办〔2026〕3号" in message.body
            assert due.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M") == "2026-12-01 10:30"
            assert "2026-12-01 10:30（北京时间）" in message.body
            assert title not in message.body and title[:10] in message.body and "…" in message.body
            assert len(message.body) + 12 <= 134  # two UCS-2 parts, with room for delivery's reference
    assert len(notify.messages()) == 9
    assert "回复" not in notify.messages()[0].body and "http://127.0.0.1:8080/l/" in notify.messages()[0].body


def test_the_ladder_climbs_with_the_clock_and_signing_cancels_the_rest(notify):
    notify.call("put_policy", "urgent", LADDER, OPERATOR)
    sender, chased, signer = notify.unit("sender"), notify.unit("late"), notify.unit("quick")
    document_id, receipts = notify.send("sender", ["late", "quick"], urgency="urgent", due_minutes=60)
    notify.tick()
    assert notify.messages() == []  # nothing is due at the send: the first step is 10 minutes on

    notify.clock.advance(minutes=10)
    notify.tick()
    assert {m.user_id for m in notify.messages()} == {*chased["clerks"], *signer["clerks"]}

    notify.sign(document_id, receipts["quick"])  # between steps: the rest of quick's ladder is cancelled
    notify.clock.advance(minutes=10)
    notify.tick()
    [leader_sms] = notify.messages(user_id=chased["leader"])
    assert leader_sms.channel == "sms"
    assert notify.messages(user_id=signer["leader"]) == []

    notify.clock.advance(minutes=10)
    notify.tick()
    [chase] = notify.messages(user_id=sender["clerks"][0])
    assert chase.unit_code == "sender" and "late单位尚未签收" in chase.body and "请催签" in chase.body
    [call] = notify.messages(user_id=chased["leader"], channel="voice")
    assert "sender单位" in call.body and "穗府办〔2026〕2号" in call.body and "标题关于" in call.body
    assert len(notify.messages()) == 5  # late: clerk, leader sms, leader call; sender's clerk; quick: clerk
    steps = {(n.unit_code, n.step, n.status) for n in notify.notifications()}
    assert ("quick", 2, "cancelled") not in steps  # cancelled steps never made notifications
    assert {(s.step, s.status) for s in _steps(notify, receipts["quick"])} == {
        (1, "fired"), (2, "cancelled"), (3, "cancelled"), (4, "cancelled")}


def test_a_fan_out_schedules_each_new_receipt_once_under_its_units_own_policy(notify):
    """Forty units in one document_sent (tracked in one statement), one of them with a tighter
    policy; then a resend's event naming three of the old receipts and two new ones."""
    notify.call("put_policy", "urgent", LADDER, OPERATOR)
    tighter = {"steps": [{**LADDER["steps"][0], "after": "5m"}, *LADDER["steps"][1:]]}
    notify.call("put_unit_policy", "u07", {"urgent": tighter},
                {"user_id": "admin-u07", "unit_code": "u07", "roles": ["admin"]})
    codes = [f"u{n:02}" for n in range(40)]
    document_id, receipts = notify.send("sender", codes, urgency="urgent", due_minutes=60)
    sent_at = notify.clock.now
    first_steps = {s.unit_code: s.fire_at for s in notify.session.scalars(
        select(EscalationStep).where(EscalationStep.document_id == document_id, EscalationStep.step == 1))}
    assert first_steps == {code: sent_at + timedelta(minutes=5 if code == "u07" else 10) for code in codes}

    resent = [receipts[code] for code in codes[:3]] + [
        {**receipts["u00"], "receipt_id": f"new-{n}", "unit_code": f"v{n}", "generation": 2} for n in range(2)]
    notify.event("exchange", "document_sent", {
        "id": document_id, "issuer_code": "sender", "doc_number": "穗府办〔2026〕40号", "title": "重发",
        "urgency": "urgent", "sent_at": sent_at.isoformat(), "status": "sent", "resend": True, "receipts": resent})
    per_unit = {}
    for step in notify.session.scalars(select(EscalationStep).where(EscalationStep.document_id == document_id)):
        per_unit[step.unit_code] = per_unit.get(step.unit_code, 0) + 1
    assert per_unit == {**{code: 4 for code in codes}, "v0": 4, "v1": 4}


def _steps(notify, receipt):
    return notify.session.scalars(select(EscalationStep).where(EscalationStep.receipt_id == receipt["receipt_id"]))


def test_recall_and_completion_cancel_whatever_is_pending(notify):
    notify.call("put_policy", "urgent", LADDER, OPERATOR)
    notify.unit("sender")
    notify.unit("r1")
    recalled, _ = notify.send("sender", ["r1"], urgency="urgent")
    completed, _ = notify.send("sender", ["r1"], urgency="urgent")
    notify.event("exchange", "document_recalled", {"id": recalled, "unit_codes": ["r1"]})
    notify.event("exchange", "document_completed", {"id": completed})
    notify.clock.advance(hours=1)
    notify.tick()
    assert notify.messages() == []


def test_a_receipt_signed_before_its_document_sent_arrives_is_never_reminded(notify):
    notify.call("put_policy", "urgent", {"steps": [LADDER["steps"][0]]}, OPERATOR)
    notify.unit("sender")
    notify.unit("r1")
    import uuid
    receipt = {"receipt_id": str(uuid.uuid4()), "unit_code": "r1", "due_at": notify.clock.now.isoformat()}
    document_id = str(uuid.uuid4())
    notify.sign(document_id, receipt)  # each event type has its own queue: this one came first
    notify.event("exchange", "document_sent", {"id": document_id, "issuer_code": "sender", "doc_number": "1号",
                                               "title": "通知", "urgency": "urgent", "receipts": [receipt],
                                               "sent_at": notify.clock.now.isoformat()})
    notify.clock.advance(hours=1)
    notify.tick()
    assert notify.messages() == []


def test_overdue_schedules_the_steps_counted_from_the_due_time(notify):
    notify.unit("sender")
    late = notify.unit("late")
    document_id, receipts = notify.send("sender", ["late"], urgency="normal", due_minutes=60)
    notify.tick()
    assert notify.messages() == []  # a normal document: nothing at the send
    notify.clock.advance(minutes=60)
    notify.event("exchange", "receipt_overdue", {"id": document_id, "receipt_id": receipts["late"]["receipt_id"],
                                                 "unit_code": "late", "due_at": receipts["late"]["due_at"]})
    notify.tick()
    assert notify.messages() == []  # a reminder waits out the combine window for others to join it
    notify.clock.advance(minutes=10)
    notify.tick()
    [reminder] = notify.messages()
    assert reminder.user_id == late["clerks"][0] and "尚未签收" in reminder.body
    assert "时限2026-12-01 11:00" in reminder.body


def test_three_reminders_for_one_person_within_the_combine_window_are_one_sms(notify):
    notify.unit("sender")
    clerk = notify.unit("r1")["clerks"][0]
    overdue = []
    for n in range(3):
        document_id, receipts = notify.send("sender", ["r1"], urgency="normal", doc_number=f"穗府〔2026〕{n + 1}号",
                                            title=f"第{n + 1}份通知", due_minutes=0)
        overdue.append((document_id, receipts["r1"]))
    for minutes, (document_id, receipt) in zip((0, 3, 4), overdue, strict=True):
        notify.clock.advance(minutes=minutes)
        notify.event("exchange", "receipt_overdue", {"id": document_id, **receipt})
        notify.tick()
    notify.clock.advance(minutes=10)
    notify.tick()
    [message] = notify.messages(user_id=clerk)
    assert message.document_id is None and "3份公文待签收" in message.body
    assert all(f"穗府〔2026〕{n}号" in message.body for n in (1, 2, 3))
    assert {n.message_id for n in notify.notifications(user_id=clerk)} == {message.id}


def test_the_same_text_never_goes_to_one_number_a_third_time_in_24_hours(notify):
    notify.unit("sender")
    clerk = notify.unit("r1")["clerks"][0]
    policy = {"steps": [{"after": "0m", "from": "sent", "audience": "recipient_clerks", "channel": "sms",
                         "repeat": {"every": "1h", "times": 3}}]}
    notify.call("put_policy", "urgent", policy, OPERATOR)
    notify.send("sender", ["r1"], urgency="urgent")
    for _ in range(4):
        notify.tick()
        notify.clock.advance(hours=1)
    assert len(notify.messages(user_id=clerk)) == 2
    assert [n.reason for n in notify.notifications(user_id=clerk)] == [None, None, "same_text_limit", "same_text_limit"]
    notify.clock.advance(hours=24)
    notify.send("sender", ["r1"], urgency="urgent")  # another document: another text
    notify.tick()
    assert len(notify.messages(user_id=clerk)) == 3


def test_a_number_gets_at_most_the_daily_cap(make_notify):
    notify = make_notify(NOTIFY_DAILY_CAP=2)
    notify.unit("sender")
    clerk = notify.unit("r1")["clerks"][0]
    for n in range(3):
        notify.send("sender", ["r1"], doc_number=f"{n}号")
    notify.tick()
    assert len(notify.messages(user_id=clerk)) == 2
    assert [n.reason for n in notify.notifications(user_id=clerk)].count("daily_cap") == 1


def test_a_unit_without_sms_gets_none_and_the_reason_is_recorded(notify):
    notify.unit("sender")
    quiet = notify.unit("nosms", sms=False)
    nomobile = notify.unit("nomobile", leader_mobile=False)
    notify.send("sender", ["nosms", "nomobile"])
    notify.tick()
    assert notify.messages(unit_code="nosms") == []
    assert {(n.user_id, n.status, n.reason) for n in notify.notifications(unit_code="nosms")} == {
        (quiet["clerks"][0], "skipped", "sms_not_enabled"), (quiet["leader"], "skipped", "sms_not_enabled")}
    [leader] = notify.notifications(user_id=nomobile["leader"])
    assert (leader.status, leader.reason, leader.to) == ("skipped", "no_mobile", None)
    assert len(notify.messages(unit_code="nomobile")) == 1  # the clerk


def test_a_disabled_account_or_a_changed_mobile_is_followed(notify):
    notify.unit("sender")
    people = notify.unit("r1")
    user = {"user_id": people["clerks"][0], "name": "clerk", "unit_code": "r1", "roles": ["clerk"],
            "mobile": "+8613900139000", "status": "active"}
    notify.clock.advance(seconds=1)
    notify.event("identity", "user_mobile_changed", {"user": user})
    notify.event("identity", "user_disabled", {"user": {**user, "user_id": people["leader"], "status": "disabled"}})
    notify.send("sender", ["r1"])
    notify.tick()
    [clerk] = notify.messages(user_id=people["clerks"][0])
    assert clerk.to == "+8613900139000"
    assert notify.notifications(user_id=people["leader"])[0].reason == "account_disabled"


def test_quiet_hours_defer_a_normal_documents_reminders_but_never_an_urgent_ones(notify):
    notify.unit("sender")
    notify.unit("r1")
    notify.clock.advance(hours=12)  # 22:00 in Beijing
    normal, receipts = notify.send("sender", ["r1"], urgency="normal", due_minutes=0)
    notify.event("exchange", "receipt_overdue", {"id": normal, **receipts["r1"]})
    notify.send("sender", ["r1"], urgency="extra_urgent")
    notify.clock.advance(minutes=30)
    notify.tick()
    assert [m.document_id for m in notify.messages()] != [] and all(m.document_id != normal for m in notify.messages())
    notify.clock.advance(hours=9, minutes=31)  # 08:01 the next morning, the combine window passed
    notify.tick()
    notify.clock.advance(minutes=10)
    notify.tick()
    assert any(m.document_id == normal for m in notify.messages())


def test_only_approved_templates_are_sent(notify):
    notify.unit("sender")
    notify.unit("r1")
    template = notify.call("get_template", "urgent_alert", OPERATOR)
    assert template["approved"] and template["source"] == "config"
    notify.call("put_template", "urgent_alert", {"text": template["text"] + "！", "approved": False}, OPERATOR)
    notify.send("sender", ["r1"])
    notify.tick()
    assert notify.messages() == []
    assert {n.reason for n in notify.notifications()} == {"template_not_approved"}
    refused = notify.refused("put_template", "urgent_alert", {"text": "请回复1确认{link}", "approved": True}, OPERATOR)
    assert refused.code == "VALIDATION_ERROR" and "text" in refused.fields
    clerk = {"user_id": "c", "unit_code": "r1", "roles": ["clerk", "admin"]}
    assert notify.refused("put_template", "urgent_alert", template, clerk).code == "FORBIDDEN"
