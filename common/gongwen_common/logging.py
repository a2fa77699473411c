"""Structured JSON logs with the correlation id of the request or event being handled."""
import json
import logging
import threading
from datetime import UTC, datetime

from nameko.extensions import DependencyProvider

# Under eventlet's monkey patch this is greenlet-local: one value per worker.
_current = threading.local()


def current_correlation_id():
    return getattr(_current, "correlation_id", None)


def set_correlation_id(value):
    _current.correlation_id = value


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation id, extras."""

    _standard = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

    def format(self, record):
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": current_correlation_id(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in self._standard})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class CorrelationId(DependencyProvider):
    """Puts the worker's correlation id where log lines, RPC calls and emitted events find it.

    The gateway sets ``correlation_id`` in the context data from ``X-Request-Id``; nameko
    forwards context data as message headers, so RPC callees and event consumers see it too.
    """

    # nameko injects dependencies before it calls ``worker_setup``: assign the id in both.
    @staticmethod
    def _assign(worker_ctx):
        cid = worker_ctx.data.get("correlation_id") or worker_ctx.call_id
        worker_ctx.data["correlation_id"] = cid
        return cid

    def get_dependency(self, worker_ctx):
        return self._assign(worker_ctx)

    def worker_setup(self, worker_ctx):
        set_correlation_id(self._assign(worker_ctx))

    def worker_teardown(self, worker_ctx):
        set_correlation_id(None)
