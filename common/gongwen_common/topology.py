"""The broker topology, decided once for every service.

Event queues are durable **quorum** queues with a delivery limit and a dead-letter exchange:
nameko acks a failed handler's message unless told to requeue, and an endlessly requeued
poison message would block its queue, so a failing handler is requeued (with backoff) until
the limit and then dead-lettered into its service's dead-letter queue. A queue's type can't
change after declaration, which is why this is fixed here and not per service.

Each service's RPC request queue (nameko's ``rpc-<service>``) is a quorum queue too: on a
broker cluster a classic durable queue lives on one node, and when that node dies it can be
neither used nor declared again elsewhere. (The RPC reply queues are transient: see ``rpc``.)

``declare_all`` creates every queue before any service starts, so an event emitted before
its consumer first ran is kept, not dropped as unroutable.
"""
import inspect
import logging

from amqp.exceptions import PreconditionFailed
from kombu import Connection, Exchange, Queue
from nameko.rpc import RPC_QUEUE_TEMPLATE

log = logging.getLogger(__name__)

DELIVERY_LIMIT = 8
DEAD_LETTER_EXCHANGE = Exchange("gongwen.dead-letter", type="direct", durable=True)


def event_exchange(source_service: str) -> Exchange:
    # Same name and type as nameko's ``get_event_exchange``, so both sides agree.
    return Exchange(f"{source_service}.events", type="topic", durable=True, auto_delete=False)


def event_queue_name(source_service, event_type, service_name, method_name) -> str:
    return f"evt-{source_service}-{event_type}--{service_name}.{method_name}"


def event_queue(source_service, event_type, service_name, method_name, ordered=False) -> Queue:
    """``ordered``: one consumer at a time (RabbitMQ's single active consumer; another instance
    takes over when it goes), so a consumer that also handles one message at a time sees the
    source's events in the order they were published."""
    arguments = {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE.name,
        "x-dead-letter-routing-key": service_name,
    }
    if ordered:
        arguments["x-single-active-consumer"] = True
    return Queue(
        event_queue_name(source_service, event_type, service_name, method_name),
        exchange=event_exchange(source_service),
        routing_key=event_type,
        durable=True,
        queue_arguments=arguments,
    )


def dead_letter_queue(service_name: str) -> Queue:
    return Queue(
        f"gongwen.dead-letter.{service_name}",
        exchange=DEAD_LETTER_EXCHANGE,
        routing_key=service_name,
        durable=True,
        queue_arguments={"x-queue-type": "quorum"},
    )


def rpc_queue(service_name: str, rpc_exchange: Exchange) -> Queue:
    """The service's RPC request queue, as nameko names and binds it, replicated."""
    return Queue(RPC_QUEUE_TEMPLATE.format(service_name), exchange=rpc_exchange,
                 routing_key=f"{service_name}.*", durable=True, queue_arguments={"x-queue-type": "quorum"})


def subscriptions(service_cls):
    """(source_service, event_type, method_name, ordered) for each reliable event handler of a class."""
    for name, member in inspect.getmembers(service_cls, inspect.isfunction):
        sub = getattr(member, "gongwen_subscription", None)
        if sub:
            yield sub[0], sub[1], name, sub[2]


def queues_of(service_cls):
    yield dead_letter_queue(service_cls.name)
    for source, event_type, method, ordered in subscriptions(service_cls):
        yield event_queue(source, event_type, service_cls.name, method, ordered=ordered)


def declare_all(amqp_uri: str, service_classes, rpc_exchange_name: str = "nameko-rpc") -> list[str]:
    """Declare every service's queues (and their exchanges and bindings); idempotent."""
    declared = []
    rpc_exchange = Exchange(rpc_exchange_name, durable=True, type="topic")  # nameko's get_rpc_exchange
    with Connection(amqp_uri) as conn:
        channel = conn.default_channel
        for cls in service_classes:
            event_exchange(cls.name)(channel).declare()
            for queue in queues_of(cls):
                queue(channel).declare()
                declared.append(queue.name)
            channel = _declare_rpc_queue(conn, channel, rpc_queue(cls.name, rpc_exchange))
            declared.append(RPC_QUEUE_TEMPLATE.format(cls.name))
    return declared


def _declare_rpc_queue(conn, channel, queue: Queue):
    """Declare ``queue``, replacing a classic one of an earlier release. That happens before the
    services start: what it held were requests whose callers have long given up."""
    try:
        queue(channel).declare()
        return channel
    except PreconditionFailed:
        log.warning("replacing the classic queue %s by a quorum queue", queue.name)
    channel = conn.channel()  # the refusal closed the channel
    channel.queue_delete(queue.name)
    queue(channel).declare()
    return channel
