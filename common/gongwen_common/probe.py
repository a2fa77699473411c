"""``python -m gongwen_common.probe SERVICE``: a container's readiness probe for an RPC service.

Calls the service's ``health`` RPC over the broker and exits 0 when it answers ``"status": "ok"``
(broker reachable, a worker free, its own database answering), 1 otherwise — a refusal, no
answer, or no broker. A probe that hangs would be killed by the orchestrator and counted as a
failure anyway, but only after its own timeout and without saying why; so the whole call,
connecting included, runs under a hard deadline and the reason goes to stderr.
"""
import argparse
import json
import os
import signal
import sys

DEFAULT_DEADLINE = 5.0


class DeadlineExceeded(Exception):
    pass


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
        return False, f"{service}: not ok: {json.dumps(reply, default=str)[:500]}"
    return True, f"{service}: ok"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gongwen_common.probe", description=__doc__.splitlines()[0])
    parser.add_argument("service", help="e.g. seal")
    parser.add_argument("--amqp-uri", default=os.environ.get("AMQP_URI"), help="default: $AMQP_URI")
    parser.add_argument("--deadline", type=float, default=float(os.environ.get("PROBE_DEADLINE", DEFAULT_DEADLINE)),
                        help=f"seconds for the whole probe (default {DEFAULT_DEADLINE:g}, or $PROBE_DEADLINE)")
    args = parser.parse_args(argv)
    if not args.amqp_uri:
        parser.error("give --amqp-uri or set AMQP_URI")
    ready, why = probe(args.service, args.amqp_uri, args.deadline)
    print(why, file=sys.stdout if ready else sys.stderr)
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main())
