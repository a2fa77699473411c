"""SMS delivery (送达) through notify to the fake Twilio server, beside the raw-HTTP floor, in one run.

Starts its own RabbitMQ node, the fake Twilio (``gongwen_fake_twilio``) and the suite (SQLite), with
notify sending to the fake through the real ``twilio`` client, and measures:
  floor      raw HTTP POSTs creating messages at the fake server (``http.client``, basic auth, one
             keep-alive connection, sequential; no rate set yet): the per-request latency and rate
             that the server itself allows
  delivery   ``--units`` units × ``--people`` people = 3,000 messages queued at once in notify's
             database (as escalation queues them after an urgent ``document_sent``; the urgent send
             in front of it comes with the escalation half), with the sender's rate set to ``--rate``
             per second at the fake (429 / 20429 beyond it) and in notify (``SMS_SEND_RATE``):
             the time from the commit to the last Twilio API call, each message's time from the
             commit to its API call (p50/p99), and how many creates the fake refused with 429.
With the rate at 100/s, 3,000 messages take 30 s (± 10 %) and meet no 429 — the run checks both.
Status callbacks are on (``--no-callbacks`` loses them), so the gateway and notify take them
meanwhile. Usage: ``python bench/notify.py`` (or ``--units 100 --rate 50``)."""
import warnings

warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")

import argparse  # noqa: E402
import base64  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import sqlite3  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from contextlib import closing  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlencode, urlsplit  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rpc_roundtrip import percentiles  # noqa: E402


def measure_floor(fake, calls):
    """Raw creates at the fake: the cost of the HTTP and the server alone."""
    url = urlsplit(fake.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    auth = base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
    path = f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    samples, started = [], time.perf_counter()
    for n in range(calls):
        body = urlencode({"To": f"+8613700{n % 100000:05d}0"[:14], "From": "+15005550007", "Body": f"floor {n}"})
        began = time.perf_counter()
        connection.request("POST", path, body, {"Authorization": f"Basic {auth}",
                                                "Content-Type": "application/x-www-form-urlencoded"})
        reply = connection.getresponse()
        reply.read()
        assert reply.status == 201, reply.status
        samples.append(time.perf_counter() - began)
    elapsed = time.perf_counter() - started
    connection.close()
    return {**percentiles(samples), "per_second": calls / elapsed}


def queue_all(database_url, units, people) -> tuple[float, dict]:
    """The messages, committed at once; the commit's wall time and each message's reference → id."""
    from sqlalchemy import create_engine

    from gongwen_common.db import Session
    from gongwen_notify.delivery import queue_message

    engine = create_engine(database_url)
    references = {}
    with Session(engine, expire_on_commit=False) as session:
        now = datetime.now(UTC)
        for unit in range(units):
            for person in range(people):
                message = queue_message(session, channel="sms", to=f"+86139{unit:05d}{person:03d}",
                                        body=f"【公文】单位{unit:04d}：特急文件 穗府办〔2026〕{unit}号 请即签收",
                                        unit_code=f"bench-{unit:04d}", now=now)
                references[message.reference] = message.id
        session.commit()
        committed = time.time()
    engine.dispose()
    return committed, references


def accepted_count(path: Path) -> int:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
        return db.execute("SELECT count(*) FROM messages WHERE provider_sid IS NOT NULL").fetchone()[0]


def cpu_seconds(pid) -> float:
    """User and system CPU a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / 100, 1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--people", type=int, default=3)
    parser.add_argument("--rate", type=float, default=100.0, help="the sender's rate, per second")
    parser.add_argument("--floor-calls", type=int, default=1000)
    parser.add_argument("--no-callbacks", action="store_true")
    args = parser.parse_args()

    from gongwen_fake_twilio.launcher import FakeTwilioProcess

    from gongwen_local.keks import local_keks
    from gongwen_local.ports import free_port
    from gongwen_local.rabbitmq import RabbitNode
    from gongwen_local.stack import SERVICES, Stack

    work = Path(tempfile.mkdtemp(prefix="gongwen-bench-notify-"))
    rabbit = RabbitNode(work / "rabbit", node_name=f"gwbench{uuid.uuid4().hex[:6]}")
    fake = FakeTwilioProcess(work / "log" / "fake-twilio.log")
    stack = None
    total = args.units * args.people
    try:
        rabbit.start()
        fake.start()
        env = {**local_keks(work), **fake.env, "SMS_SEND_RATE": str(args.rate), "DELIVERY_BATCH": "200",
               "DELIVERY_CONCURRENCY": "16", "DELIVERY_POLL_INTERVAL": "0.2", "LOG_LEVEL": "WARNING"}
        databases = {s: f"sqlite:///{work}/db/{s}.sqlite3" for s in SERVICES}
        stack = Stack(rabbit.amqp_uri(), databases, free_port(), work / "log", env=env)
        stack.start()

        floor = measure_floor(fake, args.floor_calls)
        fake.reset()
        fake.faults(rate=args.rate, burst=max(1.0, args.rate), **({"callbacks": {"mode": "lose"}}
                                                                  if args.no_callbacks else {}))

        committed, references = queue_all(databases["notify"], args.units, args.people)
        deadline = time.monotonic() + max(120.0, 3 * total / args.rate)
        while accepted_count(work / "db" / "notify.sqlite3") < total:
            if time.monotonic() > deadline:
                raise TimeoutError("not every message reached Twilio in time")
            time.sleep(0.5)
        cpu = {f"{p.name}-{p.index}": cpu_seconds(p.process.pid) for p in stack.processes}
        cpu["fake-twilio"] = cpu_seconds(fake.process.pid)
        record = fake.record()
        creates = [a for a in record["attempts"] if a["kind"] == "sms"]
        accepted = [a for a in creates if a["outcome"] == "accepted"]
        refused = [a for a in creates if a["outcome"] == 20429]
        ours = [m for m in record["messages"] if m["body"][-9:-1] in references]
        assert len(ours) == total == len({m["body"] for m in ours}), "a message missing or sent twice"
        last_call = max(a["at"] for a in creates) - committed
        latency = percentiles([a["at"] - committed for a in accepted])
    finally:
        if stack:
            stack.stop()
        fake.stop()
        rabbit.stop()

    expected = total / args.rate
    within = abs(last_call - expected) <= 0.1 * expected
    print(f"{'measure':<34}{'p50 ms':>10}{'p99 ms':>10}{'rate/s':>10}")
    print(f"{'floor: raw HTTP create':<34}{floor['p50']:>10.2f}{floor['p99']:>10.2f}{floor['per_second']:>10.0f}")
    print(f"{'queued → Twilio API call':<34}{latency['p50']:>10.0f}{latency['p99']:>10.0f}"
          f"{total / last_call:>10.0f}")
    print(f"{total} messages: the last API call {last_call:.2f} s after queueing (expected {expected:.1f} s ± 10 %: "
          f"{'ok' if within else 'OUT OF RANGE'}); 429s met: {len(refused)}")
    print("CPU seconds used by each process during the run:", json.dumps(cpu))
    print(json.dumps({"bench": "notify", "messages": total, "rate": args.rate, "to_last_call_s": round(last_call, 3),
                      "queued_to_call_ms": latency, "floor_ms": floor, "refused_429": len(refused),
                      "within_10_percent": within, "callbacks": not args.no_callbacks}))
    return 0 if within and not refused else 1


if __name__ == "__main__":
    sys.exit(main())
