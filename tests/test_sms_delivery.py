"""SMS and voice delivery on the real stack: notify's timer sends through the real ``twilio`` client to
the fake Twilio server (a process of its own), whose signed status callbacks come back through the
gateway. Messages are queued as escalation queues them (``queue_message`` in notify's database)."""
import uuid
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from conftest import Databases, StackFactory, active_unit, operator_login, person, wait_until, when_known
from gongwen_common.db import Session
from gongwen_common.tables import OutboxEvent
from gongwen_notify.delivery import queue_message
from gongwen_notify.models import Message

SHANGHAI = ZoneInfo("Asia/Shanghai")  # where the bills' months are
# Short timeouts, backoff and lease, so failures clear in seconds of real time.
SMS_ENV = {"TWILIO_TIMEOUT": "1", "DELIVERY_RETRY_BASE": "0.3", "DELIVERY_RETRY_MAX": "2", "DELIVERY_LEASE": "4",
           "DELIVERY_POLL_INTERVAL": "0.2", "DELIVERY_RECONCILE_INTERVAL": "0.5", "DELIVERY_PRICE_AFTER": "0",
           "SMS_SEND_RATE": "50"}


@pytest.fixture(scope="module")
def sms_stack(rabbit, postgres, test_var, fake_twilio):
    yield from StackFactory(rabbit, postgres, test_var / "logs", env={**fake_twilio.env, **SMS_ENV}).serving()


@pytest.fixture
def fake(fake_twilio):
    fake_twilio.reset()
    yield fake_twilio
    fake_twilio.reset()


class Notify:
    """notify's database as the escalation side writes it and the tests read it."""

    def __init__(self, stack):
        self.engine = Databases(stack).engines["notify"]

    def queue(self, count=1, channel="sms", to=None, unit_code="sms-test") -> list[str]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            return [queue_message(session, channel=channel, to=to or new_number(), body=f"【公文】请签收文件 {n}",
                                  unit_code=unit_code, now=datetime.now(UTC)).id for n in range(count)]

    def messages(self, ids) -> list[Message]:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.scalars(select(Message).where(Message.id.in_(ids))).all()

    def message(self, message_id) -> Message:
        return self.messages([message_id])[0]

    def events(self, event_type) -> list[dict]:
        with Session(self.engine) as session:
            return [p["data"] for p in session.scalars(select(OutboxEvent.payload)
                                                       .where(OutboxEvent.event_type == event_type))]


def new_number():
    return f"+86139{uuid.uuid4().int % 10**8:08d}"


def at_twilio(fake, messages) -> list[str]:
    """The references of ``messages`` as the fake recorded them accepted: once each means once sent."""
    mine = {f"[{m.reference}]" for m in messages}
    return sorted(m["body"][-10:] for m in fake.record()["messages"] if m["body"][-10:] in mine)


def all_accepted(notify, ids):
    return lambda: all(m.provider_sid for m in notify.messages(ids))


def signed_post(stack, fake, kind, message_id, params, signature=None):
    url = f"{stack.gateway_url}/api/v1/twilio/{kind}/status?message_id={message_id}"
    if signature is None:
        signature = RequestValidator(fake.auth_token).compute_signature(url, params)
    headers = {"X-Twilio-Signature": signature} if signature else {}
    return requests.post(url, data=params, headers=headers, timeout=30)


def test_after_500s_timeouts_and_a_lost_response_every_queued_message_exists_once_at_twilio(sms_stack, fake):
    notify = Notify(sms_stack)
    fake.faults(create_faults=[{"kind": "500", "count": 3}, {"kind": "timeout", "count": 2, "seconds": 1.5},
                               {"kind": "drop", "count": 1}, {"kind": "500", "count": 2}])
    ids = notify.queue(12)
    wait_until(all_accepted(notify, ids), timeout=60, message="every message accepted by Twilio")
    messages = notify.messages(ids)
    assert at_twilio(fake, messages) == sorted(f"[{m.reference}]" for m in messages)
    assert len({m.provider_sid for m in messages}) == 12
    outcomes = [a["outcome"] for a in fake.record()["attempts"]]
    assert outcomes.count(20500) == 5 and outcomes.count("dropped, not accepted") == 2 and \
        outcomes.count("drop") == 1  # every fault was met on the way


def test_a_permanently_invalid_number_is_tried_once_and_reported_to_its_unit(sms_stack, fake):
    notify, bad = Notify(sms_stack), new_number()
    operator = operator_login(sms_stack)
    unit = active_unit(operator, f"sms-bad-{uuid.uuid4().hex[:6]}")["code"]
    fake.faults(numbers={bad: {"error": 21211}})
    [message_id] = notify.queue(1, to=bad, unit_code=unit)
    wait_until(lambda: notify.message(message_id).status == "failed", message="the message to fail")
    assert [a["to"] for a in fake.record()["attempts"]] == [bad]
    assert notify.message(message_id).error_code == "21211"
    [event] = [e for e in notify.events("sms_failed") if e["message_id"] == message_id]
    assert event["unit_code"] == unit and event["error_code"] == "21211" and bad not in str(event)
    month = datetime.now(SHANGHAI).strftime("%Y-%m")
    log = when_known(lambda: operator.get(f"/api/v1/units/{unit}/sms", params={"month": month}),
                     error="NOT_FOUND", message="notify to know the unit")
    assert log.status_code == 200, log.text
    [item] = [i for i in log.json()["items"] if i["id"] == message_id]
    assert (item["status"], item["error_code"], item["attempts"]) == ("failed", "21211", 1)
    assert log.json()["messages"] == 0  # Twilio accepted none: none to pay


def test_a_callback_with_a_wrong_or_missing_signature_is_refused_and_changes_nothing(sms_stack, fake):
    notify = Notify(sms_stack)
    fake.faults(callbacks={"mode": "hold"})
    [message_id] = notify.queue(1)
    wait_until(all_accepted(notify, [message_id]), message="Twilio to accept it")
    message = notify.message(message_id)
    forged = {"MessageSid": message.provider_sid, "MessageStatus": "failed", "ErrorCode": "30003",
              "AccountSid": fake.account_sid, "To": message.to}
    for signature in ("", "bm90IGEgc2lnbmF0dXJl", RequestValidator("another token").compute_signature(
            f"{sms_stack.gateway_url}/api/v1/twilio/messages/status?message_id={message_id}", forged)):
        refused = signed_post(sms_stack, fake, "messages", message_id, forged, signature=signature)
        assert refused.status_code == 403 and refused.json()["error"] == "TWILIO_SIGNATURE_INVALID", refused.text
    # signed, but for another message's URL: the id cannot be swapped
    other = signed_post(sms_stack, fake, "messages", str(uuid.uuid4()), forged)
    moved = requests.post(f"{sms_stack.gateway_url}/api/v1/twilio/messages/status?message_id={message_id}",
                          data=forged, headers={"X-Twilio-Signature": RequestValidator(fake.auth_token)
                                                .compute_signature(other.request.url, forged)}, timeout=30)
    assert moved.status_code == 403
    after = notify.message(message_id)
    assert (after.status, after.error_code) == (message.status, None) == ("sending", None)
    assert not [e for e in notify.events("sms_failed") if e["message_id"] == message_id]
    security = "".join(p.read_text() for p in Path(sms_stack.log_dir).glob("gateway-*.log"))
    assert "TWILIO_SIGNATURE_INVALID" in security and "gongwen.security" in security
    # Twilio's own signature passes
    assert signed_post(sms_stack, fake, "messages", message_id, {**forged, "MessageStatus": "sent"}).status_code == 204
    assert notify.message(message_id).status == "sent"


def test_out_of_order_callbacks_leave_the_right_final_status(sms_stack, fake):
    notify = Notify(sms_stack)
    fake.faults(callbacks={"mode": "hold"})
    [message_id] = notify.queue(1)
    wait_until(lambda: fake.record()["held_callbacks"] == 2, message="sent and delivered, held back")
    assert fake.release_callbacks(order="reverse") == 2  # delivered first, then the late "sent"
    wait_until(lambda: len(fake.record()["callbacks"]) == 2, message="both callbacks posted")
    assert [c["outcome"] for c in fake.record()["callbacks"]] == [204, 204]
    message = notify.message(message_id)
    assert message.status == "delivered" and message.delivered_at is not None


@pytest.mark.parametrize("point", ["delivery.after_claim", "delivery.after_send"])
def test_kill_9_of_notify_while_sending_loses_nothing_and_sends_nothing_twice(sms_stack, fake, tmp_path, point):
    """Killed after claiming (before the call) or after Twilio accepted (before we recorded it): the
    next instance waits out the claim, looks the message up, and sends it only if Twilio lacks it."""
    notify, release = Notify(sms_stack), tmp_path / "release"
    sms_stack.stop_service("notify")
    [held] = sms_stack.start_service("notify", env={"GONGWEN_FAULTS": f"{point}=hold:{release}"})
    to = new_number()
    [message_id] = notify.queue(1, to=to)
    wait_until(lambda: notify.message(message_id).claimed_by, message="the message claimed")
    if point == "delivery.after_send":
        wait_until(lambda: any(a["to"] == to for a in fake.record()["attempts"]), message="Twilio to accept it")
    held.kill()  # kill -9 of its process group
    sms_stack.start_service("notify")
    wait_until(all_accepted(notify, [message_id]), timeout=60, message="the message sent after the crash")
    message = notify.message(message_id)
    assert at_twilio(fake, [message]) == [f"[{message.reference}]"]
    assert [a["to"] for a in fake.record()["attempts"]] == [to]  # one create, ever


def test_two_notify_instances_never_send_a_message_twice(sms_stack, fake):
    notify = Notify(sms_stack)
    sms_stack.start_service("notify")  # a second instance beside the first
    logs = {p.log_path: p.log_path.stat().st_size if p.log_path.exists() else 0 for p in sms_stack.of("notify")}
    try:
        ids = notify.queue(120)
        wait_until(all_accepted(notify, ids), timeout=90, message="every message accepted")
    finally:
        sms_stack.stop_service("notify")
        sms_stack.start_service("notify")
    messages = notify.messages(ids)
    assert at_twilio(fake, messages) == sorted(f"[{m.reference}]" for m in messages)
    assert len(fake.record()["attempts"]) == 120
    said = [path.read_bytes()[size:].decode() for path, size in logs.items()]
    assert len(said) == 2 and all("sms " in text for text in said)  # both instances sent some


def test_a_unit_sees_its_own_sms_bill_and_not_another_units(sms_stack, fake):
    operator = operator_login(sms_stack)
    tag = uuid.uuid4().hex[:6]
    mine, theirs = (active_unit(operator, f"{x}-{tag}")["code"] for x in ("sa", "sb"))
    admin, other_admin = person(sms_stack, operator, mine, "admin"), person(sms_stack, operator, theirs, "admin")
    notify = Notify(sms_stack)
    ids = notify.queue(2, unit_code=mine) + notify.queue(1, channel="voice", unit_code=mine)
    wait_until(lambda: all(m.status == "delivered" and m.price for m in notify.messages(ids)), timeout=60,
               message="delivered and priced")
    month = datetime.now(SHANGHAI).strftime("%Y-%m")
    bill = when_known(lambda: admin.api.get(f"/api/v1/units/{mine}/sms", params={"month": month}),
                      error="NOT_FOUND", message="notify to know the unit")
    assert bill.status_code == 200, bill.text
    body = bill.json()
    assert (body["messages"], body["segments"], body["calls"], body["price_unit"]) == (2, 2, 1, "USD")
    assert body["price"] == "-0.14500"  # two segments at -0.05850 and a call at -0.02800, as Twilio reported
    assert {i["to"][:8] for i in body["items"]} == {"+86 139*"}  # masked
    assert other_admin.api.get(f"/api/v1/units/{mine}/sms", params={"month": month}).status_code == 404
    assert operator.get("/api/v1/units/no-such-unit/sms", params={"month": month}).status_code == 404
    assert admin.api.get(f"/api/v1/units/{mine}/sms", params={"month": "2026-13"}).status_code == 400
