"""Exactly-once in effect, shown with an effect that is not idempotent by itself (a counter, in
a real service process on PostgreSQL and RabbitMQ): a redelivered event, two concurrent
deliveries of one event, and a consumer that dies after its commit and before its ack each
count once, and nothing is dead-lettered."""
import importlib.util
import os
import sys
import uuid
from pathlib import Path

import pytest
from kombu import Connection
from sqlalchemy import create_engine, insert, text

from conftest import wait_until
from gongwen_common import topology
from gongwen_common.tables import InfraBase
from gongwen_local.stack import ServiceProcess

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("counting_service", HERE / "counting_service.py")
counting = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(counting)

CONFIG = """\
AMQP_URI: ${AMQP_URI}
DATABASE_URL: ${DATABASE_URL}
EVENT_RETRY_BASE_DELAY: 0.05
OUTBOX_POLL_INTERVAL: 0.5
serializer: json
LOGGING:
  version: 1
  disable_existing_loggers: false
  formatters: {json: {(): gongwen_common.logging.JsonFormatter}}
  handlers: {console: {class: logging.StreamHandler, formatter: json}}
  root: {level: INFO, handlers: [console]}
"""


class Counting:
    """The counting service's database, broker vhost and processes."""

    def __init__(self, rabbit, postgres, tmp_path):
        name = f"counting_{uuid.uuid4().hex[:8]}"
        postgres.create_database(name)
        rabbit.add_vhost(name)
        self.amqp_uri, self.url, self.dir = rabbit.amqp_uri(name), postgres.url(name), tmp_path
        self.engine = create_engine(self.url)
        InfraBase.metadata.create_all(self.engine)
        counting.Base.metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            conn.execute(insert(counting.Counter).values(name="ticks", n=0))
        topology.declare_all(self.amqp_uri, [counting.CountingService])
        (tmp_path / "config.yaml").write_text(CONFIG)
        self.processes = []

    def start(self, faults=""):
        env = {**_environ(), "AMQP_URI": self.amqp_uri, "DATABASE_URL": self.url, "GONGWEN_FAULTS": faults,
               "PYTHONPATH": f"{HERE}:{_environ().get('PYTHONPATH', '')}"}
        process = ServiceProcess("counting", len(self.processes), [
            sys.executable, "-m", "nameko", "run", "--config", str(self.dir / "config.yaml"),
            "counting_service:CountingService"], env, self.dir / f"counting-{len(self.processes)}.log")
        process.start()
        self.processes.append(process)
        wait_until(lambda: "Connected to" in self.log(process) or not process.alive, message="the consumer to start")
        assert process.alive, self.log(process)
        return process

    def log(self, process):
        return process.log_path.read_text() if process.log_path.exists() else ""

    def publish(self, envelope, times=1):
        with Connection(self.amqp_uri) as conn:
            producer = conn.Producer(serializer="json")
            for _ in range(times):
                producer.publish(envelope, exchange=topology.event_exchange("ticker"), routing_key="ticked",
                                 message_id=envelope["event_id"], delivery_mode=2)

    def scalar(self, sql, **params):
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def lock_waits(self):
        return self.scalar("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                           "AND datname = current_database()")

    def ticks(self):
        return self.scalar("SELECT n FROM counters WHERE name = 'ticks'")

    def handled(self, event_id):
        return self.scalar("SELECT count(*) FROM handled_events WHERE event_id = :e", e=event_id)

    def dead_letters(self):
        return self.scalar("SELECT count(*) FROM dead_letters")

    def stop(self):
        for process in self.processes:
            process.stop()
        self.engine.dispose()


def _environ():
    return dict(os.environ)


def tick():
    return {"event_id": str(uuid.uuid4()), "event_type": "ticked", "occurred_at": "2026-11-21T08:00:00+00:00",
            "correlation_id": None, "data": {"counter": "ticks"}}


@pytest.fixture
def service(rabbit, postgres, tmp_path):
    made = Counting(rabbit, postgres, tmp_path)
    yield made
    made.stop()


def test_an_event_delivered_twice_counts_once_and_nothing_is_dead_lettered(service):
    process = service.start()
    first, second = tick(), tick()
    service.publish(first, times=2)
    service.publish(second)
    wait_until(lambda: service.ticks() == 2 and service.log(process).count("duplicate event") == 1,
               message="both events counted and the repeat ignored")
    assert service.handled(first["event_id"]) == service.handled(second["event_id"]) == 1
    assert service.dead_letters() == 0 and "requeue in" not in service.log(process)


def test_two_concurrent_deliveries_of_one_event_count_once_without_a_failed_attempt(service, tmp_path):
    """The second delivery waits for the first one's claim of the event id instead of racing it
    to the handled-events row (and failing its commit)."""
    release = tmp_path / "release"
    process = service.start(faults=f"event.counting.count=hold:{release}")
    event = tick()
    service.publish(event, times=2)
    wait_until(lambda: service.log(process).count("fault: holding") == 2 or service.lock_waits(),
               message="both deliveries in the service")
    release.touch()
    wait_until(lambda: service.log(process).count("duplicate event") + service.log(process).count("requeue in"),
               message="the second delivery settled")
    assert service.ticks() == 1 and service.handled(event["event_id"]) == 1
    assert "requeue in" not in service.log(process) and service.dead_letters() == 0


def test_a_consumer_that_dies_between_its_commit_and_its_ack_counts_the_redelivery_once(service):
    event = tick()
    crashing = service.start(faults="event.counting.count.before_ack=exit")
    service.publish(event)
    wait_until(lambda: not crashing.alive, message="the consumer to die before its ack")
    assert service.ticks() == 1 and service.handled(event["event_id"]) == 1  # committed

    restarted = service.start()  # the broker redelivers the unacknowledged event
    wait_until(lambda: "duplicate event" in service.log(restarted), message="the redelivery")
    assert service.ticks() == 1 and service.handled(event["event_id"]) == 1
    assert service.dead_letters() == 0


def test_a_container_killed_by_its_workers_errors_ends_its_process_and_loses_nothing(service):
    """Workers that raise after their commit (nameko answers by killing the container): the process
    ends within a few seconds, even if nameko's kill hangs, so that a supervisor starts it again; the
    restarted one counts each event once."""
    crashing = service.start(faults="event.counting.count.before_ack=fail:2")
    first, second = tick(), tick()
    service.publish(first)
    service.publish(second)
    wait_until(lambda: not crashing.alive, timeout=30, message="the process to end with its container")
    assert '"event": "container_killed"' in service.log(crashing)

    restarted = service.start()
    wait_until(lambda: service.ticks() == 2, message="both events counted")
    assert service.handled(first["event_id"]) == service.handled(second["event_id"]) == 1
    assert service.dead_letters() == 0 and restarted.alive
