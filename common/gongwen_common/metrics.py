"""Prometheus metrics of a Gongwen process (``prometheus-client``), served on ``METRICS_PORT``.

Every service and the gateway has one :class:`Metrics` dependency: it times each worker (RPC,
event handler, timer, HTTP route) by entrypoint name and counts its errors by code, and serves
``/metrics`` from a green thread of the container on ``METRICS_HOST:METRICS_PORT`` (0: off).

What the database knows (outbox backlog and its oldest row's age, dead letters, a service's own
gauges such as documents by state) is read when Prometheus scrapes, never kept in memory: several
instances of a service report the same rows, so the dashboard and the alerts take ``max`` over
instances, never ``sum``. What only a process knows (latencies, errors, relay publishes, seal
operations) is counted in that process and summed over instances.

Metric names are the contract of ``deploy/grafana/gongwen.json`` and
``deploy/prometheus/alerts.yaml`` (``tests/test_metrics_rules.py`` checks every name they use is
one of :data:`NAMES` or a service's collector's).
"""
import logging
import time
from abc import abstractmethod

import eventlet
import eventlet.wsgi
from nameko.extensions import DependencyProvider
from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from . import health, outbox
from .clock import utcnow

log = logging.getLogger(__name__)

# Latencies from a millisecond RPC to a sealed upload, in seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

# Shared by every container of the process, each label set naming its service: registered in each
# container's own registry (not the global one) so that several containers of one process, as in
# tests, each serve theirs without a duplicate registration.
ENTRYPOINT_SECONDS = Histogram(
    "gongwen_entrypoint_duration_seconds", "Time a worker took, by service, entrypoint kind and name.",
    ("service", "kind", "entrypoint"), buckets=LATENCY_BUCKETS, registry=None)
ENTRYPOINT_ERRORS = Counter(
    "gongwen_entrypoint_errors_total", "Workers that ended in an error, by the error's code (or class).",
    ("service", "kind", "entrypoint", "error"), registry=None)
RELAY_PUBLISH_SECONDS = Histogram(
    "gongwen_outbox_publish_duration_seconds", "Time from the outbox relay publishing an event's batch to "
    "the broker confirming it.", ("service",), buckets=LATENCY_BUCKETS, registry=None)
SHARED = (ENTRYPOINT_SECONDS, ENTRYPOINT_ERRORS, RELAY_PUBLISH_SECONDS)

OUTBOX_BACKLOG = "gongwen_outbox_backlog"
OUTBOX_OLDEST_AGE = "gongwen_outbox_oldest_age_seconds"
DEAD_LETTERS = "gongwen_dead_letters"

# Every name this module exports (a histogram's series add _bucket, _sum and _count).
NAMES = frozenset({"gongwen_entrypoint_duration_seconds", "gongwen_entrypoint_errors_total",
                   "gongwen_outbox_publish_duration_seconds",
                   OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE, DEAD_LETTERS})


def relay_published(exchange_name: str, seconds: float, count: int) -> None:
    """The relay's one hook: ``count`` events of ``<service>.events`` went out and were confirmed in a
    batch that took ``seconds`` (publish to the last confirm): each waited that long."""
    histogram = RELAY_PUBLISH_SECONDS.labels(exchange_name.removesuffix(".events"))
    for _ in range(count):
        histogram.observe(seconds)


class DatabaseCollector(Collector):
    """Gauges read from a service's database at scrape time; subclasses yield from ``gauges``."""

    def __init__(self, engine, service: str, clock=utcnow):
        self.engine, self.service, self.clock = engine, service, clock

    def gauge(self, name, documentation, labels=()):
        return GaugeMetricFamily(name, documentation, labels=["service", *labels])

    def collect(self):
        try:
            with Session(self.engine) as session:
                yield from self.gauges(session, self.clock())
        except Exception:  # a scrape while the database is away: say so in the log, serve the rest
            log.warning("metrics of %s's database not collected", self.service, exc_info=True)

    def describe(self):
        return []  # collected at every scrape: nothing to check at registration

    @abstractmethod
    def gauges(self, session, now):
        """The service's gauge families, read in ``session`` at ``now``."""


class InfrastructureCollector(DatabaseCollector):
    """Outbox backlog and age, dead letters not yet replayed: every service has them."""

    def gauges(self, session, now):
        count, oldest_age = outbox.backlog(session, now)
        backlog = self.gauge(OUTBOX_BACKLOG, "Events committed and not yet published.")
        backlog.add_metric([self.service], count)
        age = self.gauge(OUTBOX_OLDEST_AGE, "Age of the oldest unpublished event (0: none).")
        age.add_metric([self.service], oldest_age)
        dead = self.gauge(DEAD_LETTERS, "Dead letters not yet replayed.")
        dead.add_metric([self.service], health.dead_letters_waiting(session))
        yield from (backlog, age, dead)


def _kind(entrypoint) -> str:
    return {"TransactionalRpc": "rpc", "ReliableEventHandler": "event", "TransactionalTimer": "timer",
            "DeadLetterConsumer": "dead_letter", "ApiEntrypoint": "http"}.get(type(entrypoint).__name__,
                                                                               type(entrypoint).__name__)


def _error_name(exc) -> str:
    return getattr(exc, "code", None) or type(exc).__name__


class Metrics(DependencyProvider):
    """Times every worker and serves this container's ``/metrics``.

    ``collectors``: callables ``(engine, service_name) -> Collector`` for a service's own gauges read
    from its database; ``operations``: ``(counter, entrypoint names)``, a domain counter labelled
    ``(service, operation, outcome)`` that those entrypoints count (the seal's operations)."""

    def __init__(self, *collectors, operations=None):
        self.collectors = collectors
        self.operations = operations
        self.started = {}

    def setup(self):
        config = self.container.config
        self.port = int(config.get("METRICS_PORT") or 0)
        self.host = config.get("METRICS_HOST") or "127.0.0.1"
        self.registry = CollectorRegistry(auto_describe=False)
        for metric in SHARED + ((self.operations[0],) if self.operations else ()):
            self.registry.register(metric)

    def _engine(self):
        from .db import Database  # db imports outbox, which imports this module

        return next((d.engine for d in self.container.dependencies if isinstance(d, Database)), None)

    def start(self):
        # The database's engine exists once every dependency is set up (setups run concurrently).
        engine = self._engine()
        if engine is not None:
            service = self.container.service_name
            for make in (InfrastructureCollector, *self.collectors):
                self.registry.register(make(engine, service))
        if self.port:
            # A green thread of the container (not prometheus_client's own server thread): it stops
            # with the container, and a scrape's database reads yield to the workers.
            self.server = eventlet.listen((self.host, self.port))
            self.container.spawn_managed_thread(self._serve, identifier="metrics_server")

    def _serve(self):
        # Ends when the container kills its managed threads, after its workers have finished.
        try:
            eventlet.wsgi.server(self.server, make_wsgi_app(self.registry), log_output=False)
        finally:
            self.server.close()

    def worker_setup(self, worker_ctx):
        self.started[worker_ctx] = time.monotonic()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        started = self.started.pop(worker_ctx, None)
        if started is None:
            return
        service, kind = self.container.service_name, _kind(worker_ctx.entrypoint)
        name = worker_ctx.entrypoint.method_name
        ENTRYPOINT_SECONDS.labels(service, kind, name).observe(time.monotonic() - started)
        outcome = "ok" if exc_info is None else _error_name(exc_info[1])
        if exc_info is not None:
            ENTRYPOINT_ERRORS.labels(service, kind, name, outcome).inc()
        if self.operations is not None and name in self.operations[1]:
            self.operations[0].labels(service, name, outcome).inc()

    def worker_teardown(self, worker_ctx):
        self.started.pop(worker_ctx, None)
