"""The readiness probe: ready only on an explicit ``ok``, and never longer than its deadline."""
import socket
import threading
import time

from gongwen_common import probe
from gongwen_local.ports import free_port


def test_only_an_ok_health_is_ready():
    assert probe.healthy({"service": "seal", "status": "ok"})
    assert not probe.healthy({"service": "seal", "status": "degraded"})
    assert not probe.healthy(None)
    assert not probe.healthy("ok")


def test_a_degraded_or_failing_health_call_is_not_ready():
    ready, why = probe.probe("seal", "pyamqp://x", call=lambda *a: {"status": "degraded", "database": "down"})
    assert not ready and "degraded" in why

    def refuse(*args):
        raise RuntimeError("SERVICE_UNAVAILABLE")

    ready, why = probe.probe("seal", "pyamqp://x", call=refuse)
    assert not ready and "SERVICE_UNAVAILABLE" in why
    assert probe.probe("seal", "pyamqp://x", call=lambda *a: {"status": "ok"}) == (True, "seal: ok")


def test_the_probe_fails_within_its_deadline_when_the_broker_accepts_but_never_answers():
    """A broker that takes the TCP connection and says nothing must not hang the probe."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    started = time.monotonic()
    try:
        code = probe.main(["seal", "--amqp-uri", f"pyamqp://guest:guest@127.0.0.1:{listener.getsockname()[1]}/",
                           "--deadline", "1.5"])
    finally:
        listener.close()
    assert code == 1
    assert time.monotonic() - started < 4


def test_the_probe_fails_when_no_broker_listens():
    started = time.monotonic()
    assert probe.main(["seal", "--amqp-uri", f"pyamqp://guest:guest@127.0.0.1:{free_port()}/", "--deadline", "2"]) == 1
    assert time.monotonic() - started < 5
