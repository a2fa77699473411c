"""Calling another service with a deadline: nameko's ``RpcProxy`` would otherwise wait forever
(ARCHITECTURE.md), and a broker or service that is away answers ``SERVICE_UNAVAILABLE``. Bytes
cross RPC as base64 text, the serializer being JSON (``to_wire`` / ``from_wire``)."""
import base64
import binascii

import eventlet
from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu.exceptions import OperationalError
from nameko.exceptions import UnknownService

from .errors import ServiceUnavailable, ValidationFailed


def call(proxy, method: str, *args, timeout: float, **kwargs):
    """``proxy.method(*args, **kwargs)`` within ``timeout`` seconds; domain errors pass through."""
    service = getattr(proxy, "service_name", "service")
    try:
        with eventlet.Timeout(timeout):
            return getattr(proxy, method).call_async(*args, **kwargs).result()
    except eventlet.Timeout:
        raise ServiceUnavailable(message=f"{service} did not answer within {timeout:g}s") from None
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
