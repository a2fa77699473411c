"""Graceful shutdown within a bound (SIGTERM): stop consuming, finish in-flight workers, exit.

``nameko run`` answers SIGTERM with ``ServiceRunner.stop``: entrypoints stop (no new messages are
taken; unacknowledged ones go back to the queue for another instance), the container waits for
its running workers, then stops its dependencies. Two things are missing for an orchestrator
(systemd, Kubernetes, ``make run``'s supervisor): the wait has no bound (a worker stuck on a dead
peer holds the process forever), and every further SIGTERM starts another concurrent stop, and
two of those deadlock. :class:`ShutdownBound` adds both: the first SIGTERM starts nameko's stop and
an OS-thread watchdog that ends the process after ``SHUTDOWN_TIMEOUT`` seconds (default 10);
later SIGTERMs are ignored. What is cut off at the bound is what a ``kill -9`` would cut off:
unacknowledged messages are redelivered and the outbox keeps unsent events.
"""
import logging
import os
import signal

from eventlet import patcher
from nameko.extensions import DependencyProvider

_log = logging.getLogger(__name__)
_real_threading = patcher.original("threading")
_real_time = patcher.original("time")

DEFAULT_TIMEOUT = 10.0
EXIT_CUT_OFF = 75  # EX_TEMPFAIL: stopped by the bound, not cleanly
KILL_GRACE = 3.0  # seconds a killed container has to end its process by itself before it is ended


def shutdown_timeout(config=None) -> float:
    value = (config or {}).get("SHUTDOWN_TIMEOUT") or os.environ.get("SHUTDOWN_TIMEOUT")
    return float(value) if value else DEFAULT_TIMEOUT


class ShutdownBound(DependencyProvider):
    """Bounds ``nameko run``'s graceful stop on SIGTERM, and makes a repeated SIGTERM harmless."""

    under_runner = False

    def setup(self):
        previous = signal.getsignal(signal.SIGTERM)
        # Only under ``nameko run`` (its handler is a Python callable); in-process containers of
        # tests keep their runner's handling. One wrapper a process, whatever the services.
        self.under_runner = callable(previous)
        if not self.under_runner or getattr(previous, "_gongwen_bounded", False):
            return
        timeout = shutdown_timeout(self.container.config)
        state = {"stopping": False}

        def on_sigterm(signum, frame):
            if state["stopping"]:
                return  # a second concurrent ServiceRunner.stop would deadlock with the first
            state["stopping"] = True
            _log.info("SIGTERM: stopping gracefully", extra={"event": "shutdown_started",
                                                             "shutdown_timeout": timeout})
            _real_threading.Thread(target=_cut_off_after, args=(timeout,), daemon=True).start()
            previous(signum, frame)

        on_sigterm._gongwen_bounded = True
        signal.signal(signal.SIGTERM, on_sigterm)

    def kill(self):
        """nameko kills a container whose worker or managed thread raised; the process must end
        with it, for its supervisor to start it again. nameko's kill can hang (errors of several
        workers at once, each waiting for the container's death inside the hub), and a process
        that runs on with a dead container answers nothing and is never restarted."""
        if self.under_runner:
            _log.error("the container was killed; the process ends", extra={"event": "container_killed"})
            _real_threading.Thread(target=_cut_off_after, daemon=True,
                                   args=(KILL_GRACE, "container_killed_exit", "the killed container hung")).start()


def _cut_off_after(timeout, event="shutdown_cut_off", message="graceful stop exceeded its bound"):
    # A real thread: it runs even when the eventlet hub is stuck on the work it is bounding.
    _real_time.sleep(timeout)
    _log.error(f"{message}; exiting", extra={"event": event, "bound": timeout})
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(EXIT_CUT_OFF)
