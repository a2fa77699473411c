"""Each status a notification or its message takes is one ``message_status`` event, written in the
transaction that changes it (the outbox): queued, then sent, delivered, undelivered or failed as
Twilio's callbacks (or its refusal) say; skipped and cancelled ones too. A callback that moves
nothing — late, repeated, out of order — emits nothing. The archive asks for every unit's list of a
document (``archival_notifications``, no actor) for its package. Worker on SQLite, clock moved."""
import uuid
from datetime import timedelta

import pytest

from gongwen_contracts.events import load_event_data
from gongwen_notify.delivery.dispatch import Dispatcher, apply_callback
from gongwen_notify.delivery.provider import Rejected
from gongwen_notify.delivery.settings import DeliverySettings

OPERATOR = {"user_id": "op", "unit_code": "operator", "roles": ["operator"]}


def statuses(notify, **where):
    """The ``message_status`` events so far, each checked against notify's contract."""
    found = []
    for data in notify.events("message_status"):
        load_event_data("notify", "message_status", data)
        if all(data.get(key) == value for key, value in where.items()):
            found.append(data)
    return found


def callback(notify, message, status, **extra):
    moved = apply_callback(notify.session, message.id, "sms", {"MessageSid": message.provider_sid or "SM" +
                                                               uuid.uuid4().hex, "MessageStatus": status, **extra},
                           notify.clock())
    notify.session.commit()
    return moved


@pytest.fixture
def urgent(notify):
    """An extra-urgent document to r1 (SMS on: a clerk and the leader) and r2 (SMS off)."""
    notify.unit("sender")
    people = notify.unit("r1")
    notify.unit("r2", sms=False)
    notify.call("put_policy", "extra_urgent", {"steps": [
        {"after": "0m", "from": "sent", "audience": "recipient_clerks", "channel": "sms"},
        {"after": "0m", "from": "sent", "audience": "recipient_leader", "channel": "sms"}]}, OPERATOR)
    document_id, receipts = notify.send("sender", ["r1", "r2"])
    notify.tick()
    return {"document_id": document_id, "receipts": receipts, "people": people}


def test_queueing_a_message_is_one_queued_event_with_who_was_told(notify, urgent):
    messages = notify.messages(document_id=urgent["document_id"])
    assert len(messages) == 2
    queued = statuses(notify, status="queued")
    assert sorted(e["message_id"] for e in queued) == sorted(m.id for m in messages)
    clerk = next(e for e in queued if e["role"] == "clerk")
    message = next(m for m in messages if m.id == clerk["message_id"])
    assert clerk == {**clerk, "document_id": urgent["document_id"], "unit_code": "r1", "issuer_code": "sender",
                     "user_id": urgent["people"]["clerks"][0], "channel": "sms", "step": 1, "reason": None,
                     "sent_at": None, "delivered_at": None, "created_at": message.created_at.isoformat()}
    assert clerk["to"] == f"+86 {message.to[3:6]}****{message.to[-4:]}" != message.to  # masked


def test_each_forward_callback_is_exactly_one_event_and_twilios_queued_reads_as_no_change(notify, urgent):
    message = next(m for m in notify.messages() if m.user_id == urgent["people"]["clerks"][0])
    before = len(statuses(notify))
    assert callback(notify, message, "accepted") is True  # Twilio has it: ``sending``, still ``queued`` to a reader
    assert len(statuses(notify)) == before
    notify.clock.advance(seconds=3)
    assert callback(notify, message, "sent") is True
    notify.clock.advance(seconds=4)
    assert callback(notify, message, "delivered") is True
    mine = statuses(notify, message_id=message.id)
    assert [e["status"] for e in mine] == ["queued", "sent", "delivered"]
    assert mine[-1]["delivered_at"] == notify.clock().isoformat() and mine[-1]["sent_at"] == mine[1]["sent_at"]
    assert mine[-1]["at"] == notify.clock().isoformat()


def test_a_late_repeated_or_out_of_order_callback_emits_nothing(notify, urgent):
    message = next(m for m in notify.messages() if m.user_id == urgent["people"]["clerks"][0])
    assert callback(notify, message, "delivered") is True  # delivered came first
    count = len(statuses(notify))
    assert callback(notify, message, "sent") is False  # the late ``sent``
    assert callback(notify, message, "delivered") is False  # Twilio's retry of the same callback
    assert callback(notify, message, "undelivered", ErrorCode="30003") is False  # final stays final
    assert len(statuses(notify)) == count
    assert [e["status"] for e in statuses(notify, message_id=message.id)] == ["queued", "delivered"]


def test_an_undelivered_message_is_one_event_with_its_error_and_the_unit_admin_is_still_told(notify, urgent):
    message = next(m for m in notify.messages() if m.user_id == urgent["people"]["leader"])
    assert callback(notify, message, "undelivered", ErrorCode="30005") is True
    [event] = statuses(notify, message_id=message.id, status="undelivered")
    assert event["error_code"] == "30005" and event["role"] == "leader"
    assert [e["message_id"] for e in notify.events("sms_failed")] == [message.id]


def test_a_message_twilio_refuses_is_one_failed_event(notify, urgent):
    message = next(m for m in notify.messages() if m.user_id == urgent["people"]["clerks"][0])
    settings = DeliverySettings(account_sid="AC0", auth_token="t", sender="+15005550006", send_rate=0)
    dispatcher = Dispatcher(lambda: notify.session, settings, notify.clock, provider=object())
    message_id = message.id
    message.claimed_by, message.claimed_until = dispatcher.owner, notify.clock() + timedelta(minutes=1)
    notify.session.commit()
    dispatcher.settle(message, Rejected("21211", "The 'To' number is not valid"))  # in a session of its own
    [event] = statuses(notify, message_id=message_id, status="failed")
    assert event["error_code"] == "21211" and event["sent_at"] is None
    assert [e["status"] for e in statuses(notify, message_id=message_id)] == ["queued", "failed"]
    assert [e["message_id"] for e in notify.events("sms_failed")] == [message_id]


def test_a_unit_without_sms_is_one_skipped_event_each_with_the_reason(notify, urgent):
    skipped = statuses(notify, unit_code="r2")
    assert sorted(e["role"] for e in skipped) == ["clerk", "leader"]
    assert all(e["status"] == "skipped" and e["reason"] == "sms_not_enabled" and e["message_id"] is None
               and e["to"] is None for e in skipped)


def test_a_held_reminder_cancelled_by_signing_is_one_cancelled_event(notify):
    notify.unit("sender")
    clerk = notify.unit("r1")["clerks"][0]
    document_id, receipts = notify.send("sender", ["r1"], urgency="normal", due_minutes=0)
    notify.event("exchange", "receipt_overdue", {"id": document_id, **receipts["r1"]})
    notify.tick()  # held for the combine window
    assert not statuses(notify, user_id=clerk)
    notify.sign(document_id, receipts["r1"])
    [event] = statuses(notify, user_id=clerk)
    assert (event["status"], event["reason"], event["message_id"]) == ("cancelled", "receipt_closed", None)
    notify.sign(document_id, receipts["r1"])  # the same event again: nothing more
    assert len(statuses(notify, user_id=clerk)) == 1


def test_the_archive_gets_every_units_notifications_of_a_document_without_an_actor(notify, urgent):
    evidence = notify.call("archival_notifications", urgent["document_id"])
    assert evidence["items"] == notify.call("document_notifications", urgent["document_id"], OPERATOR)["items"]
    assert {(i["unit_code"], i["status"]) for i in evidence["items"]} == {
        ("r1", "queued"), ("r2", "skipped")}
    assert evidence["settled"] is False  # messages on their way
    for message in notify.messages(document_id=urgent["document_id"]):
        callback(notify, message, "delivered")
    evidence = notify.call("archival_notifications", urgent["document_id"])
    assert evidence["settled"] is True and {i["status"] for i in evidence["items"]} == {"delivered", "skipped"}
    assert notify.refused("archival_notifications", "no-such-document").code == "NOT_FOUND"
