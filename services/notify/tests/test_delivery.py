"""Delivery's rules with the real ``twilio`` client against the fake Twilio server (a real HTTP
server of its own process) and notify's schema on PostgreSQL, the clock moved by the test: retries
and their backoff, reconciliation's wait, are reached by moving it, never by sleeping."""
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool

from conftest import at_once, wait_until
from gongwen_common import migrate
from gongwen_common.clock import MovableClock
from gongwen_common.db import Session
from gongwen_common.tables import OutboxEvent
from gongwen_notify.delivery import queue_message
from gongwen_notify.delivery.dispatch import Dispatcher
from gongwen_notify.delivery.settings import DeliverySettings
from gongwen_notify.models import Message

START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def world(postgres, fake_twilio):
    name = f"delivery_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    url = postgres.url(name)
    migrate.upgrade("gongwen_notify", url)
    engine = create_engine(url, poolclass=NullPool)
    fake_twilio.reset()
    yield World(engine, fake_twilio)
    fake_twilio.reset()
    engine.dispose()


class World:
    def __init__(self, engine, fake):
        self.engine, self.fake = engine, fake
        self.clock = MovableClock(START)
        self.settings = DeliverySettings(
            account_sid=fake.account_sid, auth_token=fake.auth_token, sender=fake.sender, api_base_url=fake.url,
            callback_base_url="http://127.0.0.1:9/nowhere", timeout=0.5, send_rate=0, retry_base=5,
            reconcile_after=600, lease=60)

    def sessions(self):
        return Session(self.engine, expire_on_commit=False)

    def dispatcher(self, **changes):
        settings = DeliverySettings(**{**self.settings.__dict__, **changes})
        return Dispatcher(self.sessions, settings, self.clock)

    def queue(self, count, channel="sms", to=None) -> list[str]:
        with self.sessions() as session, session.begin():
            made = [queue_message(session, channel=channel, to=to or f"+86139{uuid.uuid4().int % 10**8:08d}",
                                  body=f"【公文】请签收 {n}", unit_code="gz-fgw", now=self.clock())
                    for n in range(count)]
            return [m.id for m in made]

    def messages(self, ids) -> list[Message]:
        with self.sessions() as session:
            return session.scalars(select(Message).where(Message.id.in_(ids))).all()

    def until_settled(self, dispatcher, rounds=20):
        """Run the dispatcher, moving the clock past each backoff, until nothing is due."""
        for _ in range(rounds):
            dispatcher.run_once()
            with self.sessions() as session:
                waiting = session.scalars(select(Message).where(Message.status == "queued")).all()
            if not waiting:
                return
            self.clock.now = max(m.next_attempt_at for m in waiting) + timedelta(seconds=1)
        raise AssertionError("messages still queued")

    def accepted_references(self) -> list[str]:
        return [m["body"][-9:-1] for m in self.fake.record()["messages"]]


def test_after_500s_timeouts_and_a_lost_response_every_message_exists_exactly_once_at_twilio(world):
    ids = world.queue(8)
    world.fake.faults(create_faults=[{"kind": "500", "count": 2}, {"kind": "timeout", "count": 2, "seconds": 1},
                                     {"kind": "drop", "count": 1}, {"kind": "accept_500", "count": 1},
                                     {"kind": "accept_timeout", "count": 1, "seconds": 1}])
    world.until_settled(world.dispatcher(concurrency=1))
    messages = world.messages(ids)
    references = world.accepted_references()
    assert sorted(references) == sorted(m.reference for m in messages)  # each once, none twice
    assert all(m.status in ("sending", "sent", "delivered") and m.provider_sid for m in messages)
    record = world.fake.record()
    assert {m.provider_sid for m in messages} == {m["sid"] for m in record["messages"]}
    failed_attempts = [a for a in record["attempts"] if a["outcome"] != "accepted"]
    assert len(failed_attempts) == 7  # every fault was met, and none of them sent a message twice


def test_a_permanently_invalid_number_is_tried_once_and_its_unit_is_told(world):
    bad = "+8613900000001"
    world.fake.faults(numbers={bad: {"error": 21211}})
    [message_id] = world.queue(1, to=bad)
    dispatcher = world.dispatcher()
    dispatcher.run_once()
    world.clock.advance(days=1)
    dispatcher.run_once()
    [message] = world.messages([message_id])
    assert (message.status, message.error_code, message.attempts) == ("failed", "21211", 1)
    assert [a["to"] for a in world.fake.record()["attempts"]] == [bad]
    with world.sessions() as session:
        [event] = session.scalars(select(OutboxEvent.payload).where(OutboxEvent.event_type == "sms_failed")).all()
    assert event["data"]["message_id"] == message_id and event["data"]["error_code"] == "21211"
    assert event["data"]["to"] == "+86 139****0001"  # never the whole number outside the messages table


def test_an_unsubscribed_number_is_not_retried(world):
    gone = "+8613900000002"
    world.fake.faults(numbers={gone: {"error": 21610}})
    [message_id] = world.queue(1, to=gone)
    world.until_settled(world.dispatcher())
    [message] = world.messages([message_id])
    assert (message.status, message.error_code, message.attempts) == ("failed", "21610", 1)


def test_beyond_the_senders_rate_twilio_refuses_and_paced_sending_sends_each_once(world):
    world.fake.faults(rate=2, burst=2)
    ids = world.queue(6)
    try:
        world.dispatcher(send_rate=0, concurrency=6).run_once()  # unpaced: the fake's rate refuses some
        refused = [a for a in world.fake.record()["attempts"] if a["outcome"] == 20429]
        assert refused and all(m.attempts == 0 for m in world.messages(ids) if m.status == "queued")
        world.clock.advance(seconds=2)
        world.fake.faults(rate=2, burst=2)  # full buckets again: the paced run starts as a fresh sender would
        world.until_settled(world.dispatcher(send_rate=2, concurrency=6))  # paced to the rate: none refused
    finally:
        world.fake.faults(rate=None, burst=None)
    attempts = world.fake.record()["attempts"]
    assert len([a for a in attempts if a["outcome"] == 20429]) == len(refused)
    assert sorted(world.accepted_references()) == sorted(m.reference for m in world.messages(ids))


def test_a_lost_callback_is_repaired_by_reconciliation(world):
    world.fake.faults(callbacks={"mode": "lose"})
    [message_id] = world.queue(1)
    dispatcher = world.dispatcher()
    dispatcher.run_once()
    [message] = world.messages([message_id])
    assert message.status == "sending" and message.provider_sid
    assert dispatcher.reconcile() == 0  # not yet: a callback may still come
    wait_until(lambda: world.fake.record()["messages"][0]["status"] == "delivered", message="Twilio to deliver it")
    world.clock.advance(seconds=601)
    assert dispatcher.reconcile() == 1
    [message] = world.messages([message_id])
    assert (message.status, message.segments, message.price, message.price_unit) == ("delivered", 1, "-0.05850", "USD")
    assert message.delivered_at == world.clock()
    world.clock.advance(seconds=601)
    assert dispatcher.reconcile() == 0  # final and priced: never fetched again


def test_a_voice_call_reads_the_message_in_mandarin(world):
    [message_id] = world.queue(1, channel="voice", to="+8613900000003")
    world.dispatcher().run_once()
    [call] = world.fake.record()["calls"]
    assert '<Say language="cmn-CN">【公文】请签收 0</Say>' in call["twiml"]
    [message] = world.messages([message_id])
    assert message.provider_sid == call["sid"] and message.status == "sending"


def test_two_dispatchers_on_postgresql_never_send_a_message_twice(world):
    ids = world.queue(40)
    first, second = world.dispatcher(batch=10), world.dispatcher(batch=10)

    def drain(dispatcher):
        return lambda: sum(iter(dispatcher.run_once, 0))

    sent = at_once([drain(first), drain(second)])
    assert sum(sent) == 40 and all(sent)  # both worked, on disjoint messages
    assert sorted(world.accepted_references()) == sorted(m.reference for m in world.messages(ids))


def test_status_only_moves_forward_and_a_failure_is_reported_once(world):
    from gongwen_notify.delivery.dispatch import apply_callback

    [first, second] = world.queue(2)
    world.dispatcher().run_once()
    sids = {m.id: m.provider_sid for m in world.messages([first, second])}

    def callback(message_id, status, **extra):
        with world.sessions() as session, session.begin():
            return apply_callback(session, message_id, "sms", {"MessageSid": sids[message_id],
                                                               "MessageStatus": status, **extra}, world.clock())

    assert [callback(first, s) for s in ("delivered", "sent", "queued", "undelivered")] == [True, False, False, False]
    assert [callback(second, s, ErrorCode="30003") for s in ("failed", "failed", "delivered")] == [True, False, False]
    first_now, second_now = world.messages([first])[0], world.messages([second])[0]
    assert (first_now.status, first_now.delivered_at) == ("delivered", world.clock())
    assert (second_now.status, second_now.error_code) == ("failed", "30003")
    with world.sessions() as session:
        failures = session.scalars(select(OutboxEvent.payload).where(OutboxEvent.event_type == "sms_failed")).all()
    assert [f["data"]["message_id"] for f in failures] == [second]
    with world.sessions() as session, session.begin():  # another Twilio id than the one we hold: ignored
        assert apply_callback(session, first, "sms", {"MessageSid": "SM" + "f" * 32, "MessageStatus": "failed"},
                              world.clock()) is False
