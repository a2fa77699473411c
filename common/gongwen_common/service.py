"""What every Gongwen service has: its database, correlation ids, health and dead letters."""
import json
import os
import socket
import uuid

from kombu import Exchange
from nameko.amqp.publish import Publisher
from nameko.dependency_providers import Config
from nameko.extensions import DependencyProvider
from sqlalchemy import select

from . import health, housekeeping
from .clock import Clock, utcnow
from .db import Database
from .entrypoints import dead_letter_consumer, rpc, timer
from .errors import NotFound
from .logging import CorrelationId
from .metrics import Metrics
from .shutdown import ShutdownBound
from .tables import DeadLetter

INSTANCE_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

_DEFAULT_EXCHANGE = Exchange("", type="direct")
_BROKER_HEADERS = ("x-death", "x-delivery-count", "x-first-death-exchange",
                   "x-first-death-queue", "x-first-death-reason", "x-last-death-exchange",
                   "x-last-death-queue", "x-last-death-reason")


class CheckedAtStart(DependencyProvider):
    """Runs ``check(config)`` when the container starts, so a service refuses to start on
    settings it could not work with (a missing KEK) instead of failing at its first call."""

    def __init__(self, check):
        self.check = check

    def setup(self):
        self.check(self.container.config)


class InProcess(DependencyProvider):
    """One object per service process, made by ``factory`` when the container starts and shared by
    its workers: memory worth keeping between calls that no other process needs (worker tests get a
    mock, as for every dependency, unless they pass one)."""

    def __init__(self, factory):
        self.factory = factory

    def setup(self):
        self.value = self.factory()

    def get_dependency(self, worker_ctx):
        return self.value


def _json_safe(value):
    return json.loads(json.dumps(value, default=str))


class ServiceBase:
    """Base class of every domain service; subclasses set ``name`` and add entrypoints."""

    name: str
    db = Database()
    correlation_id = CorrelationId()
    config = Config()
    clock = Clock()  # every rule's "now"; worker tests give a MovableClock
    metrics = Metrics()  # a service with gauges of its own sets Metrics(its collectors)
    heartbeat = health.Heartbeat()  # liveness: ``probe SERVICE --live`` reads its age
    shutdown_bound = ShutdownBound()  # SIGTERM: graceful stop, within SHUTDOWN_TIMEOUT

    @rpc
    def health(self):
        """Readiness: every check by name with its figure (``gongwen_common.health``)."""
        return {"service": self.name, "instance": INSTANCE_ID,
                **health.readiness(self.db, health.Bounds.from_config(self.config), self.clock())}

    @timer(interval=housekeeping.TICK_SECONDS)
    def purge_old_rows(self):
        """Old sent outbox rows, handled-event ids, idempotency records and replayed dead letters
        go (``gongwen_common.housekeeping``: retention settings, once with several instances)."""
        return housekeeping.run(self.db, self.clock(), self.config)

    @dead_letter_consumer
    def store_dead_letter(self, body, headers):
        deaths = headers.get("x-death") or [{}]
        queue = headers.get("x-first-death-queue") or deaths[-1].get("queue") or "unknown"
        body = body if isinstance(body, dict) else {"raw": body}
        self.db.add(DeadLetter(
            queue=queue, event_type=body.get("event_type"), event_id=body.get("event_id"),
            body=_json_safe(body), headers=_json_safe(headers),
            reason=headers.get("x-first-death-reason") or deaths[-1].get("reason"),
            dead_at=utcnow(), replay_count=0,
        ))

    @rpc
    def list_dead_letters(self, include_replayed=False, limit=100):
        query = select(DeadLetter).order_by(DeadLetter.id).limit(limit)
        if not include_replayed:
            query = query.where(DeadLetter.replayed_at.is_(None))
        return [{"id": d.id, "queue": d.queue, "event_type": d.event_type, "event_id": d.event_id,
                 "reason": d.reason, "dead_at": d.dead_at.isoformat(), "body": d.body,
                 "replayed_at": d.replayed_at and d.replayed_at.isoformat(),
                 "replay_count": d.replay_count}
                for d in self.db.scalars(query)]

    @rpc
    def replay_dead_letter(self, dead_letter_id):
        """Put a dead letter back on the queue it died in; its handler is idempotent."""
        letter = self.db.get(DeadLetter, int(dead_letter_id), with_for_update=True)
        if letter is None:
            raise NotFound(message=f"no dead letter {dead_letter_id} in {self.name}")
        headers = {k: v for k, v in letter.headers.items() if k not in _BROKER_HEADERS}
        Publisher(self.config["AMQP_URI"], use_confirms=True, serializer="json",
                  delivery_mode=2).publish(letter.body, exchange=_DEFAULT_EXCHANGE,
                                           routing_key=letter.queue, headers=headers)
        letter.replayed_at = utcnow()
        letter.replay_count += 1
        return {"id": letter.id, "queue": letter.queue, "replayed_at": letter.replayed_at.isoformat()}
