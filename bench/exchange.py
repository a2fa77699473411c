"""Sending documents (发文) through the exchange service, beside the broker floors, in the same run.

Starts its own RabbitMQ node and the suite (SQLite) as ``rpc_roundtrip.py`` does, registers a
sending unit and issues it a seal (as ``seal.py`` does, with its unit, actors and helpers), registers
recipient units through the registry and waits until their ``unit_registered`` events have reached
every service that keeps a copy of the directory, then measures, on one broker:
  floor      raw AMQP request/reply with pika (``rpc_roundtrip.measure_floor``; the suite idle)
  rpc        nameko RPC ``registry.get_unit`` (one primary-key read), from a long-lived ClusterRpcProxy
  seal       ``seal.sign`` on its own: the seal service call that every send makes inside it
  send       ``exchange.send_document`` of a small document (~2 KB body, one attachment, both
             unique per document) to 1 recipient, sequentially: checks, seal.sign by RPC, blobs,
             document, receipt, audit record and ``document_sent`` in one transaction. A document
             counts as delivered when its receipts exist, and ``send_document`` returns them (all or
             nothing), so documents/s is sent+delivered
  fan-out    one such document to ``--fanout`` recipient units (the exchange allows 1,000): the wall
             time of the call, and when its ``document_sent`` event left the outbox (``sent_at`` in
             the exchange's SQLite ``outbox_events``), then when notify and the archive had applied
             that event (every receipt tracked, every unit indexed) and the CPU each spent on it
and prints a table and a JSON summary line. Registering 1,000 units takes a while (each one is an
event to five services); ``--fanout 0`` skips it. Usage: ``make bench`` (or
``python bench/exchange.py --documents 100 --fanout 1000``).
"""
import warnings

warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")

import argparse  # noqa: E402
import base64  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from contextlib import closing  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

# The helpers live beside this file, in the other benchmarks; bench/ is not a package.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import rpc_roundtrip  # noqa: E402
from rpc_roundtrip import measure_floor, percentiles, time_calls  # noqa: E402
from seal import CLERK, OPERATOR, UNIT_CODE, issue_seal, manifest  # noqa: E402

MAX_RECIPIENTS = 1000  # the exchange's limit per document
RECIPIENT = "bench-recv-{:04d}"
REPLICAS = ("exchange", "seal", "identity", "notify", "archive")  # services that copy the unit directory
WARMUP = 20  # sends (and seal.sign calls) before the timed ones; each needs its own doc_number


def db_path(work: Path, service: str) -> Path:
    return work / "db" / f"{service}.sqlite3"


def query(path: Path, sql: str, *params):
    """Read a service's SQLite database beside the running service (WAL: readers do not block it)."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
        return db.execute(sql, params).fetchall()


def utc(stored: str | None):
    if stored is None:
        return None
    moment = datetime.fromisoformat(stored)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- setup ------------------------------------------------------------------------------------


def register(cluster, code: str, name: str) -> None:
    cluster.registry.register_unit({"code": code, "name": name, "kind": "department", "parent_code": None},
                                   actor=OPERATOR, active=True)


def register_recipients(cluster, codes: list[str]) -> float:
    started = time.monotonic()
    for n, code in enumerate(codes, start=1):
        register(cluster, code, f"基准测试接收单位{n:04d}")
        if n % 100 == 0 or n == len(codes):
            print(f"  registered {n}/{len(codes)} recipient units ({time.monotonic() - started:.1f}s)", flush=True)
    return time.monotonic() - started


def wait_for_directory(work: Path, codes: list[str], timeout: float) -> dict:
    """Wait until each directory copy holds every recipient as active: the exchange's is required (it
    refuses unknown recipients), the others only so that their event handling is over before timing."""
    wanted, started, waited = set(codes), time.monotonic(), {}
    for service in REPLICAS:
        last_print = 0.0
        while True:
            known = len(wanted & {code for (code,) in query(db_path(work, service),
                                                               "SELECT code FROM unit_views WHERE status = 'active'")})
            elapsed = time.monotonic() - started
            if known == len(wanted):
                waited[service] = round(elapsed, 1)
                print(f"  {service} knows all {known} recipient units ({elapsed:.1f}s after the last registration)",
                      flush=True)
                break
            if elapsed > timeout:
                if service == "exchange":
                    raise TimeoutError(f"the exchange knows {known}/{len(wanted)} recipient units after {timeout}s")
                print(f"  warning: {service} knows only {known}/{len(wanted)} units; timing anyway", flush=True)
                break
            if elapsed - last_print >= 5:
                print(f"  {service} knows {known}/{len(wanted)} recipient units ({elapsed:.0f}s)", flush=True)
                last_print = elapsed
            time.sleep(0.5)
    return waited


# -- documents --------------------------------------------------------------------------------


def doc_number(n: int) -> str:
    return f"穗测〔2026〕{n}号"


def document(n: int, recipients: list[str]) -> tuple:
    """``send_document``'s arguments but the actor: a ~2 KB HTML body and one attachment, both unique
    to the document (the blob store is content-addressed; identical parts would be stored once)."""
    paragraph = "根据电子公文交换平台性能基准测试工作安排，现将有关事项通知如下，请各单位认真贯彻执行。"
    body = f"<h1>关于开展电子公文交换性能基准测试的通知</h1><p>{doc_number(n)}</p>{('<p>' + paragraph + '</p>') * 15}"
    attachment = b"%PDF-1.4\n% bench attachment " + str(n).encode() + b"\n" + b"0" * 4000
    metadata = {"doc_number": doc_number(n), "title": "关于开展电子公文交换性能基准测试的通知", "signer": "张三",
                "urgency": "normal", "secrecy": "none", "main_recipients": list(recipients), "cc_recipients": [],
                "print_grants": {}}
    return (metadata, base64.b64encode(body.encode()).decode(), "正文.html",
            [{"name": "附件1.pdf", "data": base64.b64encode(attachment).decode()}])


def send(cluster, arguments: tuple) -> dict:
    """One send, checked: a receipt per recipient, each delivered."""
    sent = cluster.exchange.send_document(*arguments, CLERK)
    recipients = arguments[0]["main_recipients"]
    receipts = sent["receipts"]
    if sorted(r["unit_code"] for r in receipts) != sorted(recipients) or any(
            r["state"] != "delivered" for r in receipts):
        raise RuntimeError(f"{sent['doc_number']}: {len(receipts)} receipts for {len(recipients)} recipients")
    return sent


def measure_sign(cluster, calls: int) -> dict:
    """seal.sign alone, as a send calls it (the benchmark being the caller here), each on its own manifest."""
    pending = iter([base64.b64encode(manifest(n)).decode() for n in range(1, WARMUP + calls + 1)])
    return time_calls(lambda: cluster.seal.sign(UNIT_CODE, next(pending), CLERK), calls, warmup=WARMUP)


def measure_sends(cluster, counter, recipient: str, calls: int) -> tuple[dict, list[str]]:
    prepared = iter([document(next(counter), [recipient]) for _ in range(WARMUP + calls)])
    sent_ids = []
    figures = time_calls(lambda: sent_ids.append(send(cluster, next(prepared))["id"]), calls, warmup=WARMUP)
    return figures, sent_ids


def relayed(work: Path, document_ids: list[str], timeout: float = 60) -> list[tuple]:
    """(created_at, sent_at, payload bytes) of these documents' ``document_sent`` rows, once all are relayed."""
    exchange_db, wanted = db_path(work, "exchange"), set(document_ids)
    deadline = time.monotonic() + timeout
    while True:
        rows = [row for row in query(exchange_db, "SELECT json_extract(payload, '$.data.id'), created_at, sent_at, "
                                     "length(payload) FROM outbox_events WHERE event_type = 'document_sent'")
                if row[0] in wanted]
        if len(rows) == len(wanted) and all(row[2] for row in rows):
            return [(utc(created), utc(sent), size) for _, created, sent, size in rows]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{sum(1 for r in rows if r[2])}/{len(wanted)} document_sent events relayed "
                               f"after {timeout}s")
        time.sleep(0.05)


# When a consumer has applied the fan-out's document_sent: notify tracks every receipt, the archive's
# search has the document under every unit (the issuer and each recipient).
CONSUMED = {"notify": "SELECT count(*) FROM tracked_receipts WHERE document_id = ?",
            "archive": "SELECT count(*) FROM document_units WHERE document_id = ?"}


def measure_fanout(cluster, stack, work: Path, counter, recipients: list[str]) -> dict:
    """The call, the relay, then each consumer of ``document_sent``: when it had applied the event
    (ms after the call began) and the CPU its process spent until then."""
    from gateway_load import cpu_seconds  # a sibling script: bench/ is this one's path

    arguments = document(next(counter), recipients)
    cpu_before = cpu_seconds(stack)
    wall_started, started = datetime.now(UTC), time.perf_counter()
    sent = send(cluster, arguments)
    wall = time.perf_counter() - started
    [(created_at, sent_at, size)] = relayed(work, [sent["id"]])
    figures = {"recipients": len(recipients), "wall_ms": wall * 1000,
               "left_outbox_ms": (sent_at - wall_started).total_seconds() * 1000,
               "in_outbox_ms": (sent_at - created_at).total_seconds() * 1000, "event_bytes": size}
    expected = {"notify": len(recipients), "archive": len(recipients) + 1}
    pending, deadline = dict(CONSUMED), time.monotonic() + 120
    while pending:
        for service, sql in list(pending.items()):
            if query(db_path(work, service), sql, sent["id"])[0][0] >= expected[service]:
                figures[f"{service}_applied_ms"] = (time.perf_counter() - started) * 1000
                figures[f"{service}_cpu_ms"] = (cpu_seconds(stack)[f"{service}0"] - cpu_before[f"{service}0"]) * 1000
                del pending[service]
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"the fan-out's document_sent not applied by {', '.join(pending)} in 120 s")
        time.sleep(0.02)
    return figures


# -- report -----------------------------------------------------------------------------------


def report(figures: dict, args, body_bytes: int, setup: dict) -> None:
    floor = figures["floor"]["p50"]
    print(f"\nExchange send, one broker, 2-core machine: floors {args.calls} calls each, {args.documents} sequential "
          f"sends of a {body_bytes / 1024:.1f} KB body + 1 attachment, each sealed by the seal service")
    print(f"{'path':<50}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'docs/s':>9}{'p50 ×floor':>12}")
    rows = (("floor", "floor: raw AMQP request/reply (pika)"),
            ("rpc", "floor: nameko RPC → registry.get_unit (DB read)"),
            ("sign", "nameko RPC → seal.sign (inside every send)"),
            ("send", "exchange.send_document → 1 recipient"),
            ("outbox", "  its document_sent: emitted → relayed"))
    summary = {}
    for key, label in rows:
        row = figures[key]
        rate = f"{1000 / row['mean']:>9.1f}" if key == "send" else " " * 9
        ratio = " " * 12 if key == "outbox" else f"{row['p50'] / floor:>12.1f}"
        print(f"{label:<50}{row['p50']:>9.2f}{row['p99']:>9.2f}{row['mean']:>9.2f}{rate}{ratio}")
        summary[key] = {f"{q}_ms": round(row[q], 3) for q in ("p50", "p99", "mean")}
    summary["send"]["docs_per_s"] = round(1000 / figures["send"]["mean"], 1)
    fanout = figures.get("fanout")
    if fanout:
        label = f"exchange.send_document → {fanout['recipients']} recipients"
        print(f"{label:<50}{fanout['wall_ms']:>9.0f}{'—':>9}{'—':>9}{1000 / fanout['wall_ms']:>9.2f}"
              f"{fanout['wall_ms'] / floor:>12.0f}   (one call: wall time)")
        print(f"  its document_sent left the outbox {fanout['left_outbox_ms']:.0f} ms after the call began "
              f"({fanout['in_outbox_ms']:.0f} ms after it was emitted; event {fanout['event_bytes'] / 1024:.0f} KB)")
        for service in CONSUMED:
            print(f"  {service} had applied it {fanout[f'{service}_applied_ms']:.0f} ms after the call began "
                  f"({fanout[f'{service}_cpu_ms']:.0f} ms of its CPU; polled every 20 ms)")
        summary["fanout"] = {k: round(v, 1) for k, v in fanout.items()}
    print(json.dumps({"bench": "exchange", "calls": args.calls, "documents": args.documents, "fanout": args.fanout,
                      "body_bytes": body_bytes, "setup": setup, "paths": summary}, ensure_ascii=False))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500, help="calls for each floor row")
    parser.add_argument("--documents", type=int, default=300, help="sequential sends (and seal.sign calls)")
    parser.add_argument("--fanout", type=int, default=MAX_RECIPIENTS,
                        help="recipient units of the fan-out document; 0 skips it (and registering them)")
    parser.add_argument("--timeout", type=float, default=60, help="RPC timeout, seconds (the fan-out call's too)")
    args = parser.parse_args()
    if not 0 <= args.fanout <= MAX_RECIPIENTS:
        parser.error(f"--fanout is 0 to {MAX_RECIPIENTS} (the exchange's limit per document)")

    from gongwen_local.keks import local_keks
    from gongwen_local.ports import free_port
    from gongwen_local.rabbitmq import RabbitNode
    from gongwen_local.stack import SERVICES, Stack

    work = Path(tempfile.mkdtemp(prefix="gongwen-bench-exchange-"))
    print(f"work directory (logs, databases): {work}", flush=True)
    rabbit = RabbitNode(work / "rabbit", node_name=f"gwbench{uuid.uuid4().hex[:6]}")
    stack = echo = None
    try:
        rabbit.start()
        uri = rabbit.amqp_uri()
        stack = Stack(uri, {s: f"sqlite:///{db_path(work, s)}" for s in SERVICES}, free_port(), work / "log",
                      env=local_keks(work))
        stack.start()

        # The raw floor first, with pika before eventlet patches anything (as rpc_roundtrip measures it).
        amqp_url = uri.replace("pyamqp://", "amqp://")
        echo = subprocess.Popen([sys.executable, rpc_roundtrip.__file__, "--echo-server", amqp_url])
        figures = {"floor": measure_floor(amqp_url, args.calls)}
        echo.kill()
        echo.wait()

        import eventlet

        eventlet.monkey_patch()
        from nameko.standalone.rpc import ClusterRpcProxy

        recipients = [RECIPIENT.format(i) for i in range(1, max(args.fanout, 1) + 1)]
        setup = {}
        with ClusterRpcProxy({"AMQP_URI": uri}, timeout=args.timeout) as cluster:
            register(cluster, UNIT_CODE, "基准测试发文单位")
            issue_seal(cluster)
            print(f"registering {len(recipients)} recipient unit(s) through the registry", flush=True)
            setup["register_s"] = round(register_recipients(cluster, recipients), 1)
            setup["directory_s"] = wait_for_directory(work, recipients, timeout=120 + 0.5 * len(recipients))

            figures["rpc"] = time_calls(lambda: cluster.registry.get_unit(UNIT_CODE), args.calls)
            figures["sign"] = measure_sign(cluster, args.documents)
            counter = itertools.count(1)
            figures["send"], sent_ids = measure_sends(cluster, counter, recipients[0], args.documents)
            if args.fanout:
                figures["fanout"] = measure_fanout(cluster, stack, work, counter, recipients[:args.fanout])
        lags = [(sent_at - created_at).total_seconds() for created_at, sent_at, _ in relayed(work, sent_ids[WARMUP:])]
        figures["outbox"] = percentiles(lags)
        report(figures, args, len(base64.b64decode(document(0, [])[1])), setup)
    finally:
        if echo and echo.poll() is None:
            echo.kill()
            echo.wait()
        if stack:
            stack.stop()
        rabbit.stop()


if __name__ == "__main__":
    sys.exit(main())
