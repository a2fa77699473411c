"""nameko entrypoints that commit before they answer, plus reliable event handling.

``rpc``: commits the worker's session before the reply is sent; domain errors cross as
``DomainError``. ``event_handler``: consumes from a quorum queue, skips events it already
handled (claiming its id first, so concurrent deliveries of one event apply it once), records the
event id with the effect, requeues with backoff on failure and lets the
broker dead-letter the message after ``topology.DELIVERY_LIMIT`` deliveries.
"""
import functools
import logging
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import kombu.serialization
from amqp.exceptions import ConnectionError as AmqpConnectionError
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    DEFAULT_SERIALIZER,
    LOGIN_METHOD_CONFIG_KEY,
    SERIALIZER_CONFIG_KEY,
)
from nameko.containers import ContainerBeingKilled
from nameko.events import SERVICE_POOL, EventHandler
from nameko.exceptions import UnserializableValueError, serialize
from nameko.messaging import Consumer
from nameko.messaging import QueueConsumer as NamekoQueueConsumer
from nameko.rpc import Responder, Rpc, RpcConsumer, get_rpc_exchange
from nameko.timer import Timer

from . import faults
from .clock import utcnow
from .db import finish_transaction, insert_new
from .errors import DomainError
from .tables import HandledEvent
from .topology import dead_letter_queue, event_queue, rpc_queue

log = logging.getLogger(__name__)


class QueueConsumer(NamekoQueueConsumer):
    """nameko's shared queue consumer, which must outlive the broker node it was connected to.

    A worker that finishes after its connection died acknowledges (or requeues) its message on a
    dead socket. nameko ignores only amqp's own ``ConnectionError`` there; the socket's
    ``ConnectionResetError`` or ``BrokenPipeError`` escaped the worker, and nameko kills the
    container whose worker thread raised: a service lost its broker node and stopped serving for
    good, its process still running (a cluster test's ``kill -9`` of a node caught it). Nothing
    is lost by not acknowledging: the broker took the message back with the connection and
    redelivers it, to a handler that applies each message once."""

    def ack_message(self, message):
        self._settle(super().ack_message, message, "acknowledge")

    def requeue_message(self, message):
        self._settle(super().requeue_message, message, "requeue")

    @staticmethod
    def _settle(settle, message, action):
        try:
            settle(message)
        except (OSError, AmqpConnectionError) as exc:
            log.warning("could not %s a message on a lost connection (the broker redelivers it): %r", action, exc,
                        extra={"event": "settle_on_lost_connection"})


def _flatten_domain_error(exc_info):
    if exc_info is not None and isinstance(exc_info[1], DomainError):
        return (DomainError, exc_info[1].flatten(), exc_info[2])
    return exc_info


class Reply(Responder):
    """nameko's reply, encoded once: nameko encodes every result twice (a check that it can be
    encoded, then the publish). Published non-persistent (the caller's reply queue is transient),
    and confirmed like every other publish of the process: nameko's ``Publisher`` keeps one
    transport-options dict for all its instances and sets ``confirm_publish`` in it on every
    publish, so a publisher without confirms flips the mode of the process's other connections as
    they (re)connect. Unconfirmed replies did exactly that: after a broker node was killed, the
    exchange's calls to the seal never left the process (``tests/test_rabbit_cluster.py``)."""

    def send_response(self, result, exc_info):
        error = serialize(exc_info[1]) if exc_info is not None else None
        serializer = kombu.serialization.registry.type_to_name[self.message.properties["content_type"]]
        try:
            content_type, encoding, body = kombu.serialization.dumps({"result": result, "error": error}, serializer)
        except Exception:
            # as nameko: a result that cannot be encoded is the caller's error, not the container's
            exc_info = sys.exc_info()
            result, error = None, serialize(UnserializableValueError(result))
            content_type, encoding, body = kombu.serialization.dumps({"result": None, "error": error}, serializer)
        publisher = self.publisher_cls(self.amqp_uri, ssl=self.ssl, login_method=self.login_method)
        publisher.publish(body, content_type=content_type, content_encoding=encoding, delivery_mode=1,
                          exchange=self.exchange, routing_key=self.message.properties["reply_to"],
                          correlation_id=self.message.properties.get("correlation_id"))
        return result, exc_info


class ReplicatedRpcConsumer(RpcConsumer):
    """nameko's RPC consumer on a quorum queue (``topology.rpc_queue``): the service's requests
    survive the broker node they were queued on, and the queue can be consumed from any node.
    Its answers go out as :class:`Reply`."""

    queue_consumer = QueueConsumer()

    def setup(self):
        if self.queue is None:  # as nameko's, with the queue replaced
            self.queue = rpc_queue(self.container.service_name, get_rpc_exchange(self.container.config))
            self.queue_consumer.register_provider(self)
            self._registered = True

    def handle_result(self, message, result, exc_info):  # as nameko's, with its Responder replaced
        config = self.container.config
        reply = Reply(config[AMQP_URI_CONFIG_KEY], get_rpc_exchange(config),
                      config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER), message,
                      ssl=config.get(AMQP_SSL_CONFIG_KEY), login_method=config.get(LOGIN_METHOD_CONFIG_KEY))
        result, exc_info = reply.send_response(result, exc_info)
        self.queue_consumer.ack_message(message)
        return result, exc_info


class TransactionalRpc(Rpc):
    rpc_consumer = ReplicatedRpcConsumer()

    def __init__(self, expected_exceptions=DomainError, **kwargs):
        super().__init__(expected_exceptions=expected_exceptions, **kwargs)

    def handle_result(self, message, worker_ctx, result, exc_info):
        exc_info = _flatten_domain_error(finish_transaction(worker_ctx, exc_info))
        if exc_info is not None:
            result = None
        # One line per call, under the caller's correlation id: a request's trail through the
        # services it touched, even those that neither log nor emit anything of their own.
        log.info("rpc %s %s", self.method_name,
                 "ok" if exc_info is None else getattr(exc_info[1], "code", None) or type(exc_info[1]).__name__,
                 extra={"rpc": self.method_name})
        return super().handle_result(message, worker_ctx, result, exc_info)


rpc = TransactionalRpc.decorator


class TransactionalTimer(Timer):
    """A periodic job whose work is committed (or rolled back) like an RPC's. Several instances
    of a service each run it: the job must be safe to run concurrently (claim rows, or be idempotent)."""

    def handle_result(self, worker_ctx, result, exc_info):
        exc_info = finish_transaction(worker_ctx, exc_info)
        return super().handle_result(worker_ctx, None if exc_info else result, exc_info)


timer = TransactionalTimer.decorator


@dataclass(frozen=True)
class Event:
    event_id: str
    event_type: str
    occurred_at: str
    data: dict

    def happened_at(self, now: datetime) -> datetime:
        """When the event says it happened (its data's ``at``, else the envelope's ``occurred_at``),
        not when it is handled: a change delivered late still counts when it was made. A time that
        is missing, malformed or naive is the handling time ``now``; one in the future is cut to it."""
        for value in ((self.data or {}).get("at") if isinstance(self.data, dict) else None, self.occurred_at):
            try:
                moment = datetime.fromisoformat(value)
            except (TypeError, ValueError):
                continue
            if moment.tzinfo is not None:
                return min(moment, now)
        return now


class ReliableEventHandler(EventHandler):
    queue_consumer = QueueConsumer()
    retry_base_delay = 0.2
    retry_max_delay = 30.0

    def __init__(self, source_service, event_type, ordered=False, **kwargs):
        self.ordered = ordered
        super().__init__(source_service, event_type, handler_type=SERVICE_POOL,
                         reliable_delivery=True, requeue_on_error=True,
                         expected_exceptions=DomainError, **kwargs)

    def setup(self):
        self.queue = event_queue(self.source_service, self.event_type,
                                 self.container.service_name, self.method_name, ordered=self.ordered)
        self.retry_base_delay = float(self.container.config.get("EVENT_RETRY_BASE_DELAY", self.retry_base_delay))
        Consumer.setup(self)  # not EventHandler.setup: it would redeclare a classic queue

    def handle_result(self, message, worker_ctx, result=None, exc_info=None):
        exc_info = finish_transaction(worker_ctx, exc_info)
        if exc_info is None:  # committed, not yet acknowledged: a crash here means a redelivery
            faults.hit(f"event.{self.container.service_name}.{self.method_name}.before_ack")
        else:
            deliveries = int(message.headers.get("x-delivery-count") or 0)
            delay = min(self.retry_base_delay * 2 ** deliveries, self.retry_max_delay)
            log.warning("event handler %s failed (delivery %d), requeue in %.2fs: %s",
                        self.method_name, deliveries + 1, delay, exc_info[1])
            # Backoff before requeueing so a transient fault gets time to clear; the broker
            # dead-letters the message once its delivery limit is reached.
            time.sleep(delay)
        self.handle_message_processed(message, result, exc_info)
        return result, exc_info


def event_handler(source_service: str, event_type: str, ordered: bool = False):
    """Handle ``event_type`` from ``source_service`` once per event, whatever the redeliveries.

    The decorated method receives an :class:`Event`; it must use ``self.db`` for its effects so
    that the effect and the handled-event record commit together. ``ordered``: one instance at a
    time consumes the queue (see ``topology.event_queue``); with ``max_workers: 1`` the handler
    then takes the source's events in publication order.
    """
    def decorate(fn):
        @functools.wraps(fn)
        def handle(self, envelope):
            # Claim the event before applying it: a concurrent delivery of the same event waits
            # for this transaction, then finds it handled (or, if this one rolled back, applies it).
            if not insert_new(self.db, HandledEvent, event_id=envelope["event_id"], handler=fn.__name__,
                              event_type=envelope["event_type"], handled_at=utcnow()):
                log.info("duplicate event %s ignored by %s", envelope["event_id"], fn.__name__)
                return None
            faults.hit(f"event.{self.name}.{fn.__name__}")
            result = fn(self, Event(envelope["event_id"], envelope["event_type"],
                                    envelope["occurred_at"], envelope["data"]))
            log.info("handled %s", envelope["event_type"],
                     extra={"event_id": envelope["event_id"], "handler": fn.__name__})
            return result

        handle.gongwen_subscription = (source_service, event_type, ordered)
        return ReliableEventHandler.decorator(source_service, event_type, ordered=ordered)(handle)

    return decorate


class DeadLetterConsumer(Consumer):
    """Moves messages from the service's dead-letter queue into its ``dead_letters`` table."""

    queue_consumer = QueueConsumer()

    def __init__(self, **kwargs):
        super().__init__(queue=None, requeue_on_error=True, **kwargs)

    def setup(self):
        self.queue = dead_letter_queue(self.container.service_name)
        super().setup()

    def handle_message(self, body, message):
        args = (body, dict(message.headers or {}))
        handle_result = partial(self.handle_result, message)
        try:
            self.container.spawn_worker(self, args, {}, context_data=self.unpack_message_headers(message),
                                        handle_result=handle_result)
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)

    def handle_result(self, message, worker_ctx, result=None, exc_info=None):
        exc_info = finish_transaction(worker_ctx, exc_info)
        self.handle_message_processed(message, result, exc_info)
        return result, exc_info


dead_letter_consumer = DeadLetterConsumer.decorator
