"""``python -m gongwen_common.probe SERVICE [--live]``: a container's readiness (or liveness) probe.

Readiness calls the service's ``health`` RPC over the broker and exits 0 when it answers
``"status": "ok"`` (broker reachable, a worker free, its own database answering, outbox backlog and
age and new dead letters under their bounds: ``gongwen_common.health``), 1 otherwise — a failed
check (named, with its figure), a refusal, no answer, or no broker. ``--live`` asks no broker and
no database: it exits 0 when this pod's service process touched its heartbeat file within
``--max-age`` seconds (its event loop runs; ``gongwen_common.health.Heartbeat``). Imports nothing heavy:
a probe runs every few seconds in every pod.

A probe that hangs would be killed by the orchestrator and counted as a failure anyway, but only
after its own timeout and without saying why; so the whole call, connecting included, runs under
a hard deadline and the reason goes to stderr.
"""
import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_DEADLINE = 5.0
DEFAULT_MAX_AGE = 30.0


class DeadlineExceeded(Exception):
    pass


def heartbeat_path(service: str, directory: str | Path | None = None) -> Path:
    """The file a service process touches from its event loop: in ``directory``, else
    ``GONGWEN_HEARTBEAT_DIR`` (one per process when several share a host, as ``make run``'s), else /tmp."""
    folder = directory or os.environ.get("GONGWEN_HEARTBEAT_DIR") or tempfile.gettempdir()
    return Path(folder) / f"gongwen-{service}.alive"


def file_age(path: Path) -> float | None:
    """Seconds since ``path`` was last touched (None: never)."""
    try:
        return max(0.0, time.time() - path.stat().st_mtime)
    except FileNotFoundError:
        return None


def heartbeat_age(service: str) -> float | None:
    """Seconds since the service's process last touched its heartbeat (None: never)."""
    return file_age(heartbeat_path(service))


def failing(reply) -> list[str]:
    """The names of a health answer's failed checks, with their figures (for a probe's message)."""
    checks = reply.get("checks") if isinstance(reply, dict) else None
    return [f"{name}={c.get('value')} (bound {c.get('bound')})" for name, c in (checks or {}).items()
            if isinstance(c, dict) and not c.get("ok")]


def healthy(reply) -> bool:
    """Only an explicit ``ok`` counts: a degraded answer, or anything else, is not ready."""
    return isinstance(reply, dict) and reply.get("status") == "ok"


def call_health(service: str, amqp_uri: str, timeout: float):
    from nameko.standalone.rpc import ClusterRpcProxy

    with ClusterRpcProxy({"AMQP_URI": amqp_uri, "serializer": "json"}, timeout=timeout) as suite:
        return getattr(suite, service).health()


def _expired(signum, frame):
    raise DeadlineExceeded


def probe(service: str, amqp_uri: str, deadline: float = DEFAULT_DEADLINE, call=call_health) -> tuple[bool, str]:
    """(ready, why). ``deadline`` bounds everything, the broker connection included (SIGALRM:
    kombu may wait on a silent socket far longer than the RPC's own timeout)."""
    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, deadline)
    try:
        reply = call(service, amqp_uri, deadline)
    except DeadlineExceeded:
        return False, f"{service}: no answer within {deadline:g}s"
    except Exception as exc:  # any refusal or broker error means "not ready", with its reason
        return False, f"{service}: {type(exc).__name__}: {exc}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if not healthy(reply):
        named = "; ".join(failing(reply))
        return False, f"{service}: not ok: {named + ': ' if named else ''}{json.dumps(reply, default=str)[:500]}"
    return True, f"{service}: ok"


def live(service: str, max_age: float = DEFAULT_MAX_AGE) -> tuple[bool, str]:
    """(alive, why): the service's heartbeat is at most ``max_age`` seconds old."""
    age = heartbeat_age(service)
    if age is None:
        return False, f"{service}: no heartbeat yet"
    if age > max_age:
        return False, f"{service}: heartbeat {age:.0f}s old (bound {max_age:g}s)"
    return True, f"{service}: alive (heartbeat {age:.1f}s old)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gongwen_common.probe", description=__doc__.splitlines()[0])
    parser.add_argument("service", help="e.g. seal")
    parser.add_argument("--amqp-uri", default=os.environ.get("AMQP_URI"), help="default: $AMQP_URI")
    parser.add_argument("--deadline", type=float, default=float(os.environ.get("PROBE_DEADLINE", DEFAULT_DEADLINE)),
                        help=f"seconds for the whole probe (default {DEFAULT_DEADLINE:g}, or $PROBE_DEADLINE)")
    parser.add_argument("--live", action="store_true",
                        help="liveness: this pod's process beat its heartbeat lately (no broker, no database)")
    parser.add_argument("--max-age", type=float, default=DEFAULT_MAX_AGE,
                        help=f"--live: the oldest heartbeat that counts, seconds (default {DEFAULT_MAX_AGE:g})")
    args = parser.parse_args(argv)
    if args.live:
        alive, why = live(args.service, args.max_age)
        print(why, file=sys.stdout if alive else sys.stderr)
        return 0 if alive else 1
    if not args.amqp_uri:
        parser.error("give --amqp-uri or set AMQP_URI")
    ready, why = probe(args.service, args.amqp_uri, args.deadline)
    print(why, file=sys.stdout if ready else sys.stderr)
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main())
