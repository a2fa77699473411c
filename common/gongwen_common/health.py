"""What a service's ``health`` answers: readiness as named checks, each with its figure and bound.

Readiness (the ``health`` RPC, ``python -m gongwen_common.probe SERVICE``):

- ``broker``: the RPC reached the service and its answer came back, so the broker carries both
  ways (a service that cannot be reached does not answer at all: the caller reports it down);
- ``database``: the service's own database answers ``SELECT 1``;
- ``outbox_backlog``: unsent outbox rows, at most ``HEALTH_OUTBOX_MAX_PENDING``;
- ``outbox_oldest_age``: seconds the oldest unsent row has waited, at most
  ``HEALTH_OUTBOX_MAX_AGE_SECONDS`` (a relay that cannot publish shows here first);
- ``dead_letters_new``: dead letters (not yet replayed) that arrived in the last
  ``HEALTH_DEAD_LETTERS_WINDOW_SECONDS``, at most ``HEALTH_DEAD_LETTERS_MAX_NEW``: one poison
  message is for the operator to replay, a stream of them means a handler is failing now.

Liveness (``probe SERVICE --live``) is only "the process answers", and asked in its own pod: every
``HEARTBEAT_SECONDS`` the service's event loop touches a heartbeat file, and the probe reads its
age. Not over the broker: an RPC goes to any instance of the service, not this pod's, and a broker
or database outage must make services unready, never restart every pod.
"""
import logging
import os
from dataclasses import dataclass
from datetime import timedelta

import eventlet
from nameko.extensions import DependencyProvider
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from . import outbox
from .probe import heartbeat_path
from .settings import setting
from .tables import DeadLetter

log = logging.getLogger(__name__)

# In the order of Bounds' fields
DEFAULTS = {"HEALTH_OUTBOX_MAX_PENDING": 1000, "HEALTH_OUTBOX_MAX_AGE_SECONDS": 120.0,
            "HEALTH_DEAD_LETTERS_WINDOW_SECONDS": 900.0, "HEALTH_DEAD_LETTERS_MAX_NEW": 10}


@dataclass(frozen=True)
class Bounds:
    outbox_max_pending: int
    outbox_max_age: float
    dead_letters_window: float
    dead_letters_max_new: int

    @classmethod
    def from_config(cls, config) -> "Bounds":
        return cls(*(setting(config, name, default) for name, default in DEFAULTS.items()))


def check(value, bound=None, ok=None, detail=None) -> dict:
    """One named check's answer: ``ok`` (by default ``value <= bound``), its figure and its bound."""
    passed = ok if ok is not None else (bound is None or value <= bound)
    answer = {"ok": bool(passed), "value": value, "bound": bound}
    if detail:
        answer["detail"] = detail
    return answer


def dead_letters_waiting(session, since=None) -> int:
    """Dead letters not yet replayed (those arrived since ``since``, when given)."""
    query = select(func.count()).select_from(DeadLetter).where(DeadLetter.replayed_at.is_(None))
    if since is not None:
        query = query.where(DeadLetter.dead_at >= since)
    return session.scalar(query)


def readiness(session, bounds: Bounds, now) -> dict:
    """``status`` ``ok`` when every check passes, else ``degraded``; a database that does not answer
    is a failed check, not an error (the caller must hear why the service is not ready)."""
    checks = {"broker": check("answered", ok=True)}
    try:
        pending, age = outbox.backlog(session, now)  # answering at all is the database check
        dead = dead_letters_waiting(session)
        new_dead = dead_letters_waiting(session, since=now - timedelta(seconds=bounds.dead_letters_window))
    except SQLAlchemyError as exc:
        session.rollback()
        # The gateway's /health is public: the error's class there, its text (hosts, names) in the log.
        log.warning("readiness: the database does not answer: %s", exc)
        checks["database"] = check("unreachable", ok=False, detail=f"{type(exc).__name__}; see the service's log")
        return {"status": "degraded", "database": "down", "checks": checks}
    checks["database"] = check("answered", ok=True)
    checks["outbox_backlog"] = check(pending, bounds.outbox_max_pending)
    checks["outbox_oldest_age"] = check(age, bounds.outbox_max_age)
    window = f"in the last {bounds.dead_letters_window:g}s; {dead} not replayed in all"
    checks["dead_letters_new"] = check(new_dead, bounds.dead_letters_max_new, detail=window)
    ready = all(c["ok"] for c in checks.values())
    return {"status": "ok" if ready else "degraded", "database": "ok", "checks": checks,
            "outbox_pending": pending, "dead_letters": dead}


HEARTBEAT_SECONDS = 5.0


class Heartbeat(DependencyProvider):
    """Touches the heartbeat file from the service's own event loop: a wedged hub stops it."""

    def setup(self):
        self.path = heartbeat_path(self.container.service_name)
        self.interval = float(os.environ.get("HEARTBEAT_SECONDS") or HEARTBEAT_SECONDS)

    def start(self):
        self.thread = self.container.spawn_managed_thread(self._beat, identifier="heartbeat")

    def stop(self):
        """A stopping service is not alive any more: it beats no longer (and nameko need not kill it)."""
        thread = getattr(self, "thread", None)  # None: the container failed before starting it
        if thread is not None:
            thread.kill()

    kill = stop

    def _beat(self):
        while True:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.path.touch()
            except OSError:  # an unwritable directory shows as a stale heartbeat, which says why
                pass
            eventlet.sleep(self.interval)
