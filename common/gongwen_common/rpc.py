"""Calling another service with a deadline: nameko's ``RpcProxy`` would otherwise wait forever
(ARCHITECTURE.md), and a broker or service that is away answers ``SERVICE_UNAVAILABLE``. Bytes
cross RPC as base64 text, the serializer being JSON (``to_wire`` / ``from_wire``).

Deadlines shrink along a chain: each call carries its absolute deadline (epoch seconds) in the
worker's context data, which nameko sends as the ``nameko.deadline`` header and the callee's worker
receives as its own context data. A service calling on waits at most its own timeout and at most
what its caller has left less ``SAFETY_MARGIN`` (time to commit and answer), so a callee always
gives up before its caller does: the caller never reports a failure for work that then commits.
With no time left it refuses at once.

``RpcProxy`` is nameko's with a transient reply queue: nameko declares it durable, and on a broker
cluster a durable classic queue whose node died can be declared again nowhere, so a proxy could not
come back on another node. A transient one goes with its node and is declared afresh where the
proxy reconnects (replies in flight are lost: their calls time out and the caller retries)."""
import base64
import binascii
import math
import time

import eventlet
from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu import Queue
from kombu.exceptions import OperationalError
from nameko.exceptions import UnknownService
from nameko.rpc import ReplyListener
from nameko.rpc import RpcProxy as NamekoRpcProxy

from .entrypoints import QueueConsumer
from .errors import ServiceUnavailable, ValidationFailed

DEADLINE = "deadline"  # context-data key (header ``nameko.deadline``): when the caller stops waiting
SAFETY_MARGIN = 1.0  # seconds a callee keeps for itself after its own call: commit and reply


def caller_deadline(context: dict | None) -> float | None:
    """The absolute deadline the current worker's caller set, if any (a malformed one is ignored)."""
    value = (context or {}).get(DEADLINE)
    try:
        deadline = float(value)
    except (TypeError, ValueError):
        return None
    return deadline if math.isfinite(deadline) else None


def budget(timeout: float, deadline: float | None, now: float, margin: float = SAFETY_MARGIN) -> float:
    """Seconds this hop may wait: its own ``timeout``, cut to the caller's ``deadline`` less
    ``margin``; zero or less means no time is left."""
    if deadline is None:
        return timeout
    return min(timeout, deadline - now - margin)


class TransientReplyListener(ReplyListener):
    # The services' consumer, which outlives a lost broker node: with nameko's, acknowledging a
    # reply on a connection that had just died killed the calling container (a cluster test's
    # node kill caught it in the exchange, waiting on its seal.sign reply).
    queue_consumer = QueueConsumer()

    def setup(self):
        super().setup()
        q = self.queue
        self.queue = Queue(q.name, exchange=q.exchange, routing_key=q.routing_key, durable=False,
                           queue_arguments=q.queue_arguments)


class RpcProxy(NamekoRpcProxy):
    rpc_reply_listener = TransientReplyListener()


class _WithDeadline:
    """The worker context as the outgoing call sees it: the same, with this call's deadline. The
    worker's own context data is not changed, so it keeps the caller's deadline for later calls
    and concurrent calls of one worker (``GreenPile``) do not see each other's."""

    def __init__(self, worker_ctx, deadline: float):
        self._worker_ctx, self._deadline = worker_ctx, deadline

    def __getattr__(self, name):
        return getattr(self._worker_ctx, name)

    @property
    def context_data(self):
        return {**self._worker_ctx.context_data, DEADLINE: self._deadline}


def call(proxy, method: str, *args, timeout: float, clock=time.time, **kwargs):
    """``proxy.method(*args, **kwargs)`` within ``timeout`` seconds and the caller's deadline;
    domain errors pass through."""
    service = getattr(proxy, "service_name", "service")
    worker_ctx = getattr(proxy, "worker_ctx", None)
    now = clock()
    wait = budget(timeout, caller_deadline(getattr(worker_ctx, "data", None)), now)
    if wait <= 0:
        raise ServiceUnavailable(message=f"no time left to call {service} before the caller's deadline")
    target = getattr(proxy, method)
    if worker_ctx is not None and hasattr(target, "worker_ctx"):
        target.worker_ctx = _WithDeadline(worker_ctx, round(now + wait, 3))
    try:
        with eventlet.Timeout(wait):
            return target.call_async(*args, **kwargs).result()
    except eventlet.Timeout:
        raise ServiceUnavailable(message=f"{service} did not answer within {wait:g}s") from None
    except (UnknownService, OperationalError, AmqpConnectionError, OSError) as exc:
        raise ServiceUnavailable(message=f"{service} is unavailable ({type(exc).__name__})") from None


def to_wire(data: bytes) -> str:
    return base64.b64encode(data).decode()


def from_wire(value, field: str, optional: bool = False) -> bytes | None:
    """The bytes of a base64 argument; ``VALIDATION_ERROR`` naming ``field`` if it is not base64."""
    if value is None and optional:
        return None
    try:
        if isinstance(value, str):
            return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        pass
    raise ValidationFailed({field: ["expected base64"]})
