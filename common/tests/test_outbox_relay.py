"""The outbox relay against a real broker: it holds no transaction while a publish waits, and
two relays on one database never publish a row at once (a claim is skipped until its lease ends)."""
import threading
import uuid
from datetime import timedelta

import pytest
from kombu import Connection, Queue
from sqlalchemy import create_engine, func, inspect, select

from conftest import wait_until
from gongwen_common.clock import MovableClock, utcnow
from gongwen_common.db import Session, create_engine_for
from gongwen_common.outbox import OutboxRelay
from gongwen_common.tables import InfraBase, OutboxEvent
from gongwen_common.topology import event_exchange


def emit(engine, n=1):
    with Session(engine) as session:
        ids = [session.emit("thing_happened", {"n": i}) for i in range(n)]
        session.commit()
    return ids


def sent_rows(engine):
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.sent_at.is_not(None)))


class Listener:
    """A queue bound to a service's event exchange: what the relays really published."""

    def __init__(self, amqp_uri, service):
        self.connection = Connection(amqp_uri)
        self.queue = Queue(f"listen-{uuid.uuid4().hex[:6]}", exchange=event_exchange(service), routing_key="#",
                           auto_delete=False, durable=False)
        self.queue(self.connection.default_channel).declare()

    def message_ids(self):
        ids = []
        while (message := self.queue(self.connection.default_channel).get(no_ack=True)) is not None:
            ids.append(message.properties["message_id"])
        return ids

    def close(self):
        self.queue(self.connection.default_channel).delete()
        self.connection.release()


def blocked_connections(rabbit, vhost) -> int:
    listed = rabbit._ctl("list_connections", "vhost", "state", timeout=30).stdout
    return sum(1 for line in listed.splitlines() if line.split("\t")[:1] == [vhost] and "blocked" in line)


def test_the_database_stays_writable_while_a_publish_waits_for_a_blocked_broker(rabbit, tmp_path):
    """A broker memory alarm blocks publishers; the relay waits for its confirm outside any
    transaction, so the service's only SQLite connection stays free for its workers."""
    vhost = f"alarm-{uuid.uuid4().hex[:6]}"
    rabbit.add_vhost(vhost)
    engine = create_engine_for(f"sqlite:///{tmp_path / 'service.sqlite3'}")
    InfraBase.metadata.create_all(engine)
    [first] = emit(engine)
    relay = OutboxRelay(engine, "alarmed", rabbit.amqp_uri(vhost), confirm_timeout=120)
    writer = threading.Thread(target=emit, args=(engine,))
    rabbit._ctl("set_vm_memory_high_watermark", "0", timeout=30)  # the memory alarm goes off
    try:
        publishing = threading.Thread(target=relay.publish_batch)
        publishing.start()
        wait_until(lambda: blocked_connections(rabbit, vhost), timeout=30, message="the relay's publish to block")
        writer.start()
        writer.join(5)
        assert not writer.is_alive(), "a worker's write waited for the relay's publish"
    finally:
        rabbit._ctl("set_vm_memory_high_watermark", "0.4", timeout=30)
        publishing.join(30)
        writer.join(30)
    with Session(engine) as session:
        assert session.scalar(select(OutboxEvent.sent_at).where(OutboxEvent.event_id == first)) is not None
    engine.dispose()


@pytest.fixture
def two_relays(rabbit, postgres, tmp_path, monkeypatch):
    """Two relays of one service on one PostgreSQL database; the first is held after its claim
    until the test creates the release file."""
    name = f"relays_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    rabbit.add_vhost(name)
    engine = create_engine(postgres.url(name))
    InfraBase.metadata.create_all(engine)
    listener = Listener(rabbit.amqp_uri(name), "relayed")
    clock = MovableClock(utcnow())
    relays = [OutboxRelay(engine, "relayed", rabbit.amqp_uri(name), lease=30, clock=clock, relay_id=f"relay-{i}")
              for i in range(2)]
    release = tmp_path / "release"
    monkeypatch.setenv("GONGWEN_FAULTS", f"outbox.after_claim=hold:{release}")
    yield engine, relays, listener, clock, release
    release.touch()
    listener.close()
    engine.dispose()


def test_a_row_claimed_by_one_relay_is_skipped_by_the_other(two_relays):
    engine, (held, other), listener, _, release = two_relays
    ids = emit(engine, 3)
    holding = threading.Thread(target=held.publish_batch)
    holding.start()
    wait_until(lambda: claimed_by(engine) == {"relay-0"}, message="the first relay to claim the rows")

    assert other.publish_batch() == 0  # every row is claimed: nothing for the second relay
    assert listener.message_ids() == []

    release.touch()
    holding.join(30)
    assert sorted(listener.message_ids()) == sorted(ids)  # each row published once, by the holder
    assert other.publish_batch() == 0 and sent_rows(engine) == 3


def test_rows_of_a_relay_that_hangs_past_its_lease_are_published_by_another(two_relays, monkeypatch):
    engine, (hung, other), listener, clock, release = two_relays
    ids = emit(engine, 2)
    hanging = threading.Thread(target=hung.publish_batch)
    hanging.start()
    wait_until(lambda: claimed_by(engine) == {"relay-0"}, message="the first relay to claim the rows")
    assert other.publish_batch() == 0

    clock.advance(seconds=31)  # the lease is over: the rows are anyone's again
    monkeypatch.delenv("GONGWEN_FAULTS")
    assert other.publish_batch() == 2
    assert sorted(listener.message_ids()) == sorted(ids)
    release.touch()
    hanging.join(30)  # the hung relay wakes past its lease: the rows are no longer its to publish
    assert listener.message_ids() == [] and sent_rows(engine) == 2


def claimed_by(engine):
    with Session(engine) as session:
        return set(session.scalars(select(OutboxEvent.claimed_by).where(OutboxEvent.sent_at.is_(None))))


def test_a_lease_runs_for_the_configured_time(two_relays):
    engine, (relay, _), _, clock, _ = two_relays
    emit(engine)
    [row] = relay.claim()
    assert row.claimed_until == clock() + timedelta(seconds=30) and row.claimed_by == "relay-0"


def test_rows_a_worker_emits_are_claimed_at_birth_and_published_without_a_claim(two_relays, monkeypatch):
    """A worker's session (``Database`` gives it the relay) writes its rows claimed for this
    process's relay; after the commit the relay publishes them with no claim transaction, and the
    other relay, polling meanwhile, never takes them."""
    engine, (relay, other), listener, clock, _ = two_relays
    monkeypatch.delenv("GONGWEN_FAULTS")
    claims = []
    for each in (relay, other):
        monkeypatch.setattr(each, "claim", lambda each=each, real=each.claim: claims.append(each.relay_id) or real())
    with Session(engine, info={"relay": relay}, expire_on_commit=False) as session:  # as Database makes it
        ids = [session.emit("thing_happened", {"n": n}) for n in range(3)]
        with pytest.raises(RuntimeError):
            with session.begin_nested():  # a savepoint that rolls back takes its event with it
                session.emit("never_happened", {})
                raise RuntimeError
        session.commit()
        rows = [row for row in session.info["emitted"] if inspect(row).persistent]
    assert claimed_by(engine) == {"relay-0"} and len(rows) == 3
    assert {row.claimed_until for row in rows} == {clock() + relay.birth_lease}
    assert other.publish_batch() == 0  # held by their relay's birth claim
    ticks = [1000.0]
    relay.ticks = lambda: ticks[0]
    relay._polled = ticks[0]  # its own poll is not due
    relay.hand_over(rows)
    relay.publish_pending()
    relay.settle_when_due()
    assert claims == ["relay-1"]  # only the other relay's poll claimed (nothing); ours claimed nothing
    assert sorted(listener.message_ids()) == sorted(ids)
    # confirmed, and marked sent with the next ones: meanwhile still held by their relay's birth claim
    assert sent_rows(engine) == 0 and claimed_by(engine) == {"relay-0"} and other.publish_batch() == 0
    ticks[0] += relay.settle_interval
    relay.settle_when_due()
    assert sent_rows(engine) == 3 and claimed_by(engine) == set() and listener.message_ids() == []


def test_a_stopping_relay_marks_sent_what_it_published(two_relays, monkeypatch):
    """The hand-over's rows wait to be marked sent together; a relay that stops marks them first, so a
    restart does not publish them again."""
    engine, (relay, _), listener, _, _ = two_relays
    monkeypatch.delenv("GONGWEN_FAULTS")
    relay.settle_interval = 3600  # only the stop settles
    with Session(engine, info={"relay": relay}, expire_on_commit=False) as session:
        ids = [session.emit("thing_happened", {"n": n}) for n in range(3)]
        session.commit()
    running = threading.Thread(target=relay.run)
    running.start()
    relay.hand_over(session.info["emitted"])
    published = []
    wait_until(lambda: published.extend(listener.message_ids()) or len(published) == 3, message="the rows published")
    assert sorted(published) == sorted(ids) and sent_rows(engine) == 0
    relay.stop()
    running.join(30)
    assert not running.is_alive() and sent_rows(engine) == 3


def test_rows_claimed_at_birth_by_a_relay_that_died_are_published_once_the_birth_lease_ends(two_relays, monkeypatch):
    engine, (dead, other), listener, clock, _ = two_relays
    monkeypatch.delenv("GONGWEN_FAULTS")
    with Session(engine, info={"relay": dead}) as session:
        [event_id] = [session.emit("thing_happened", {})]
        session.commit()  # … and the process dies before its relay publishes
    assert other.publish_batch() == 0
    clock.advance(seconds=dead.birth_lease.total_seconds() + 1)
    assert other.publish_batch() == 1
    assert listener.message_ids() == [event_id]


def test_while_the_broker_is_away_the_relay_keeps_a_bounded_number_of_rows_in_memory(tmp_path):
    engine = create_engine_for(f"sqlite:///{tmp_path / 'service.sqlite3'}")
    relay = OutboxRelay(engine, "away", "pyamqp://guest:guest@127.0.0.1:1//", batch_size=5)
    with Session(engine, info={"relay": relay}, expire_on_commit=False) as session:
        InfraBase.metadata.create_all(engine)
        [session.emit("thing_happened", {"n": n}) for n in range(60)]
        session.commit()
        relay.hand_over(session.info["emitted"])
    assert [row.payload["data"]["n"] for row in relay._handed] == list(range(10, 60))  # the newest 50
    engine.dispose()


def test_a_service_stopped_gracefully_leaves_nothing_it_published_to_be_published_again(rabbit, postgres):
    """nameko kills a service's managed threads as soon as its dependencies have stopped: the
    ``Database`` marks the relay's published rows sent in its own ``stop``, before that."""
    import eventlet
    from nameko.containers import ServiceContainer
    from nameko.standalone.rpc import ServiceRpcProxy

    from gongwen_common.db import Database
    from gongwen_common.entrypoints import rpc

    name = f"stopping{uuid.uuid4().hex[:6]}"
    rabbit.add_vhost(name)
    postgres.create_database(name)
    url = postgres.url(name)
    engine = create_engine_for(url)
    InfraBase.metadata.create_all(engine)
    listener = Listener(rabbit.amqp_uri(name), name)

    class Emitting:
        db = Database()

        @rpc
        def happen(self, n):
            self.db.emit("thing_happened", {"n": n})

    Emitting.name = name
    container = ServiceContainer(Emitting, {"DATABASE_URL": url, "AMQP_URI": rabbit.amqp_uri(name)})
    container.start()
    relay = next(d for d in container.extensions if isinstance(d, Database)).relay
    relay.settle_interval = 3600  # only the stop settles
    try:
        with ServiceRpcProxy(name, {"AMQP_URI": rabbit.amqp_uri(name)}) as service:
            for n in range(3):
                service.happen(n)
        published = []
        with eventlet.Timeout(30):
            while len(published) < 3:
                published.extend(listener.message_ids())
                eventlet.sleep(0.05)
        assert sent_rows(engine) == 0  # published, not yet marked
    finally:
        container.stop()
        listener.close()
    assert sent_rows(engine) == 3
    engine.dispose()
