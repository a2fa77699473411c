"""Calling another service with a deadline: nameko's ``RpcProxy`` would otherwise wait forever
(ARCHITECTURE.md), and a broker or service that is away answers ``SERVICE_UNAVAILABLE``."""
import eventlet
from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu.exceptions import OperationalError
from nameko.exceptions import UnknownService

from .errors import ServiceUnavailable


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
