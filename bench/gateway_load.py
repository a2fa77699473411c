"""The gateway under load as department systems see it: N concurrent clients over HTTP for a fixed time.

For each configuration asked for (``--db sqlite,postgres`` × ``--exchanges 1,2``) it starts its own
suite (one RabbitMQ node for the run; PostgreSQL when asked), makes a sending unit with a seal and a
clerk, and a receiving unit whose office system has client credentials, then, for ``--duration``
seconds each:
  send    ``--send-clients`` clients, each its own keep-alive connection, POST /api/v1/documents as
          the clerk (multipart: metadata, a ~2 KB HTML body, one ~4 KB attachment, each unique):
          sealed by the seal service, stored, delivered to one recipient
  inbox   ``--poll-clients`` office-system clients GET /api/v1/inbox (the documents just sent)
and prints documents/s or requests/s with p50/p99, beside floors measured in the same run on the
same machine:
  amqp    raw AMQP request/reply with pika (``rpc_roundtrip.measure_floor``), sequential
  ecdsa   raw ECDSA P-256 sign (``cryptography``), in-process, sequential
  hello   a bare WSGI "hello" on eventlet's WSGI server (the server the gateway runs on), driven by
          the same clients as the inbox row
Ratios to these floors are what compare across runs on a shared machine; the load average is
printed beside them. Every client is a process of its own (``--client`` mode of this file), so the
clients do not share a GIL with each other or with the suite.
Usage: ``python bench/gateway_load.py`` (a short run: ``--duration 5 --db sqlite --exchanges 1``).
"""
import warnings

warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
START_MARGIN = 0.5  # seconds between handing out the start time to the ready clients and their start


# -- the client processes ----------------------------------------------------------------------


def multipart(fields: list[tuple]) -> tuple[bytes, str]:
    """(body, content type) of a multipart/form-data request: fields are (name, filename or None, bytes)."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, filename, data in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        parts.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def send_request(spec: dict, n: int) -> tuple[str, str, bytes, dict]:
    from exchange import document  # bench/exchange.py: the same small document as its sequential sends

    metadata, body_b64, body_name, attachments = document(n, [spec["recipient"]])
    import base64

    metadata["doc_number"] = f"载〔2026〕{spec['client']}-{n}-{spec['tag']}号"
    fields = [("metadata", None, json.dumps(metadata, ensure_ascii=False).encode()),
              ("body", body_name, base64.b64decode(body_b64))]
    fields += [("attachments", a["name"], base64.b64decode(a["data"])) for a in attachments]
    data, content_type = multipart(fields)
    return "POST", "/api/v1/documents", data, {"Content-Type": content_type}


def client(spec: dict) -> dict:
    """One client: requests back to back on one keep-alive connection from ``start`` for ``duration``;
    latencies of the answers with the expected status, errors counted by status."""
    sys.path.insert(0, str(HERE))
    target = urlsplit(spec["url"])
    headers = {"Authorization": f"Bearer {spec['token']}"} if spec.get("token") else {}
    expected = {"send": 201}.get(spec["kind"], 200)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
    latencies, errors, n = [], {}, 0
    print("ready", flush=True)  # imports done: on a loaded machine starting a process takes seconds
    start = float(sys.stdin.readline())
    time.sleep(max(0.0, start - time.time()))
    cpu_before = os.times()
    end = start + spec["duration"]
    while time.time() < end:
        n += 1
        if spec["kind"] == "send":
            method, path, body, extra = send_request(spec, n)
        else:
            method, path, body, extra = "GET", spec["path"], None, {}
        started = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers={**headers, **extra})
            reply = connection.getresponse()
            reply.read()
            status = reply.status
        except (OSError, http.client.HTTPException) as failed:
            status = type(failed).__name__
            connection.close()
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        elapsed = time.perf_counter() - started
        if status == expected:
            latencies.append(elapsed)
        else:
            errors[str(status)] = errors.get(str(status), 0) + 1
    cpu = os.times()
    return {"latencies": latencies, "errors": errors,
            "cpu_seconds": cpu.user + cpu.system - cpu_before.user - cpu_before.system}


def drive(kind: str, url: str, clients: int, duration: float, **spec) -> dict:
    """``clients`` client processes at once; documents or requests per second with p50/p99."""
    from rpc_roundtrip import percentiles

    procs = []
    for index in range(clients):
        job = {"kind": kind, "url": url, "duration": duration, "client": index, **spec}
        procs.append(subprocess.Popen([sys.executable, __file__, "--client"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True))
        procs[-1].stdin.write(json.dumps(job) + "\n")
        procs[-1].stdin.flush()
    for p in procs:
        if p.stdout.readline().strip() != "ready":
            raise RuntimeError("a load client did not start")
    start = time.time() + START_MARGIN
    for p in procs:
        p.stdin.write(f"{start}\n")
        p.stdin.close()
    results = [json.loads(p.stdout.read()) for p in procs]
    for p in procs:
        p.wait()
    latencies = [x for r in results for x in r["latencies"]]
    client_cpu = sum(r["cpu_seconds"] for r in results)
    errors = {}
    for r in results:
        for status, count in r["errors"].items():
            errors[status] = errors.get(status, 0) + count
    if not latencies:
        return {"rate": 0.0, "p50": float("nan"), "p99": float("nan"), "errors": errors}
    return {"rate": len(latencies) / duration, **percentiles(latencies), "errors": errors, "count": len(latencies),
            "client_cpu_seconds": client_cpu}


# -- floors ----------------------------------------------------------------------------------


def hello_server(port: int) -> None:
    import eventlet
    from eventlet import wsgi

    def hello(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return [b"hello"]

    wsgi.server(eventlet.listen(("127.0.0.1", port)), hello, log_output=False)


def ecdsa_floor(calls: int) -> dict:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from rpc_roundtrip import time_calls

    key, content = ec.generate_private_key(ec.SECP256R1()), os.urandom(1024)
    return time_calls(lambda: key.sign(content, ec.ECDSA(hashes.SHA256())), calls)


def floors(amqp_uri: str, args, free_port) -> dict:
    import rpc_roundtrip

    amqp_url = amqp_uri.replace("pyamqp://", "amqp://")
    echo = subprocess.Popen([sys.executable, rpc_roundtrip.__file__, "--echo-server", amqp_url])
    try:
        amqp = rpc_roundtrip.measure_floor(amqp_url, args.floor_calls)
    finally:
        echo.kill()
        echo.wait()
    port = free_port()
    hello = subprocess.Popen([sys.executable, __file__, "--hello-server", str(port)])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=2).request("GET", "/")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        served = drive("hello", f"http://127.0.0.1:{port}", args.poll_clients, args.duration, path="/")
    finally:
        hello.kill()
        hello.wait()
    return {"amqp": amqp, "ecdsa": ecdsa_floor(args.floor_calls), "hello": served}


# -- one configuration -----------------------------------------------------------------------


def process_cpu_seconds(pid: int, reaped=False) -> float:
    """User + system CPU time of a process so far (/proc), with ``reaped`` its waited-for children's too."""
    from gongwen_local.rabbitmq import _stat

    fields = _stat(str(pid))
    if not fields:
        return 0.0
    return sum(int(fields[i]) for i in ((11, 12, 13, 14) if reaped else (11, 12))) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(stack) -> dict:
    """User + system CPU time of each suite process so far (/proc): per operation it does not depend
    on how much of the machine the neighbours take, as rates and latencies do."""
    return {f"{p.name}{p.index}": process_cpu_seconds(p.process.pid) for p in stack.processes if p.alive}


def tree_cpu_seconds(root: int | None) -> float:
    """User + system CPU of a server and its descendants, living and reaped (RabbitMQ's beam.smp is
    the script's child; PostgreSQL's backends are the postmaster's)."""
    from gongwen_local.rabbitmq import _process_tree

    if root is None:
        return 0.0
    return sum(process_cpu_seconds(pid, reaped=True) for pid, _ in _process_tree({root}))


def machine_cpu_seconds() -> dict:
    """The whole machine's busy and stolen CPU seconds so far (/proc/stat), every process counted."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
    tick = os.sysconf("SC_CLK_TCK")
    return {"busy": (user + nice + system + irq + softirq) / tick, "steal": steal / tick}


def broker_messages(rabbit, vhost: str) -> dict:
    """Messages published into the vhost's exchanges and delivered to its consumers so far, by the
    management API: RabbitMQ updates these every 5 s (``collect_statistics_interval``)."""
    from urllib.parse import quote

    stats = rabbit._get(f"/api/vhosts/{quote(vhost, safe='')}").get("message_stats", {})
    return {"published": stats.get("publish", 0), "delivered": stats.get("deliver_get", 0)}


def database_work(postgres, prefix: str) -> dict:
    """Transactions ended and rows written so far in the suite's databases (``pg_stat_database``)."""
    import psycopg2

    with psycopg2.connect(postgres.url("postgres").replace("postgresql+psycopg2", "postgresql")) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT coalesce(sum(xact_commit + xact_rollback), 0),"
                           " coalesce(sum(tup_inserted + tup_updated + tup_deleted), 0)"
                           " FROM pg_stat_database WHERE datname LIKE %s", (prefix + "%",))
            transactions, rows = cursor.fetchone()
    connection.close()
    return {"transactions": int(transactions), "rows written": int(rows)}


STATS_SETTLE = 6.0  # seconds: RabbitMQ's statistics interval (5 s) has passed, the consumers have caught up


class MachineAccount:
    """Where the machine's CPU went during a row and the consumers' tail after it, per operation: the
    suite's processes, the broker, PostgreSQL, the load clients, and the rest (this bench, the kernel's
    own work, other tenants); and the work behind it: broker messages, and on PostgreSQL transactions
    and rows written. Each row's account runs from the end of the last one's (from its start, the
    first), read once RabbitMQ's statistics have caught up (``STATS_SETTLE``)."""

    def __init__(self, stack, rabbit, vhost, postgres, database_prefix):
        self.stack, self.rabbit, self.vhost = stack, rabbit, vhost
        self.postgres, self.database_prefix = postgres, database_prefix
        self.start = self._now()

    def _now(self) -> dict:
        return {"suite": cpu_seconds(self.stack), "rabbitmq": tree_cpu_seconds(self.rabbit.pid),
                "postgres": tree_cpu_seconds(self.postgres.pid if self.postgres else None),
                "machine": machine_cpu_seconds(), "messages": broker_messages(self.rabbit, self.vhost),
                "database": database_work(self.postgres, self.database_prefix) if self.postgres else {}}

    def per_operation(self, row: dict) -> tuple[dict, dict, dict]:
        """Since the last row's end: CPU ms per operation of each suite process, the machine's CPU ms
        per operation by part, and the work per operation (messages; transactions and rows written)."""
        end, start, operations = self._now(), self.start, max(row.get("count", 0), 1)
        self.start = end
        suite = cpu_per_operation(start["suite"], end["suite"], operations)
        per = {"suite": sum(end["suite"].values()) - sum(start["suite"].values()),
               "rabbitmq": end["rabbitmq"] - start["rabbitmq"], "postgres": end["postgres"] - start["postgres"],
               "clients": row.get("client_cpu_seconds", 0.0)}
        busy = end["machine"]["busy"] - start["machine"]["busy"]
        per["other"] = busy - sum(per.values())
        per["machine busy"] = busy
        per["machine stolen"] = end["machine"]["steal"] - start["machine"]["steal"]
        work = {name: round((end[kind][name] - start[kind][name]) / operations, 2)
                for kind in ("messages", "database") for name in end[kind]}
        return suite, {name: round(1000 * seconds / operations, 2) for name, seconds in per.items()}, work


def cpu_per_operation(before: dict, after: dict, operations: int) -> dict:
    """CPU milliseconds per operation, per process and in all."""
    per = {name: round(1000 * (after[name] - before.get(name, 0)) / max(operations, 1), 2) for name in after}
    return {"total": round(sum(per.values()), 2), **{name: ms for name, ms in per.items() if ms >= 0.05}}


@contextmanager
def profiled(stack, directory, row: str, names=("gateway", "seal", "exchange", "archive", "notify"), own=False):
    """``py-spy record`` (collapsed stacks) of the stack's ``names`` processes during a row, and of
    this process with ``own``; nothing when ``directory`` is not given."""
    if not directory:
        yield
        return
    spy = Path(sys.executable).parent / "py-spy"
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    pids = {f"{p.name}{p.index}": p.process.pid for p in stack.processes if p.name in names}
    if own:
        pids["bench"] = os.getpid()
    recorders = [subprocess.Popen([str(spy), "record", "--nonblocking", "--rate", "50", "--format", "raw", "--pid",
                                   str(pid), "--output", str(out / f"{row}-{name}.txt")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for name, pid in pids.items()]
    try:
        yield
    finally:
        for recorder in recorders:
            recorder.send_signal(signal.SIGINT)  # py-spy writes what it sampled and exits
        for recorder in recorders:
            recorder.wait()


def configuration(db: str, exchanges: int, rabbit, postgres, work: Path, args, free_port) -> dict:
    from test_documents import sealed_unit, system_of

    from conftest import active_unit, operator_login, when_known
    from gongwen_local.keks import local_keks
    from gongwen_local.stack import SERVICES, Stack

    tag = uuid.uuid4().hex[:6]
    rabbit.add_vhost(tag)
    if db == "postgres":
        urls = {}
        for service in SERVICES:
            postgres.create_database(f"b{tag}_{service}")
            urls[service] = postgres.url(f"b{tag}_{service}")
    else:
        urls = {s: f"sqlite:///{work}/{tag}/db/{s}.sqlite3" for s in SERVICES}
    env = {**local_keks(work), "AUTH_RATE_PER_MINUTE": "100000", "AUTH_RATE_BURST": "100000"}
    stack = Stack(rabbit.amqp_uri(tag), urls, free_port(), work / tag / "log", scale={"exchange": exchanges}, env=env)
    try:
        stack.start(timeout=180)
        print(f"  {db}, {exchanges} exchange instance(s): suite up (logs {work / tag / 'log'})", flush=True)
        operator = operator_login(stack)
        sender, clerk = sealed_unit(stack, operator)
        recipient = active_unit(operator, f"r-{tag}", "基准测试接收单位")["code"]
        system = system_of(stack, operator, recipient)
        first = when_known(lambda: clerk.post("/api/v1/documents", data={"metadata": json.dumps({
            "doc_number": f"预〔2026〕{tag}号", "title": "预热", "signer": "张三", "urgency": "normal",
            "secrecy": "none", "main_recipients": [recipient], "cc_recipients": [], "print_grants": {}},
            ensure_ascii=False)}, files=[("body", ("正文.html", b"<p>warm</p>"))]),
            message="the exchange to know the recipient")
        assert first.status_code == 201, first.text
        clerk_token = clerk.http.headers["Authorization"].split()[1]
        system_token = system.http.headers["Authorization"].split()[1]
        # The floors right before the rows, under the same neighbours' load (the machine is shared),
        # from a process of their own: pika's floor without eventlet's patches.
        measured = subprocess.run([sys.executable, __file__, "--floors", stack.amqp_uri, "--duration",
                                   str(args.duration), "--poll-clients", str(args.poll_clients),
                                   "--floor-calls", str(args.floor_calls)], capture_output=True, text=True, check=True)
        floor = json.loads(measured.stdout.splitlines()[-1])
        load_before = os.getloadavg()[0]
        rows = {}
        time.sleep(STATS_SETTLE)  # the floors' messages counted before the first row, not in it
        account = MachineAccount(stack, rabbit, tag, postgres if db == "postgres" else None, f"b{tag}_")
        for kind, spec in (("send", {"token": clerk_token, "recipient": recipient, "tag": tag}),
                           ("inbox", {"token": system_token, "path": "/api/v1/inbox"})):
            with profiled(stack, args.profile, f"{db}-{exchanges}-{kind}"):
                row = drive(kind, stack.gateway_url, args.send_clients if kind == "send" else args.poll_clients,
                            args.duration, **spec)
            time.sleep(STATS_SETTLE)  # the relays and consumers work off what the row left
            row["cpu_ms"], row["machine_ms"], row["work"] = account.per_operation(row)
            rows[kind] = row
        return {"db": db, "exchanges": exchanges, "floors": floor, **rows,
                "load": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
    finally:
        stack.stop()


def report(run: dict, args) -> None:
    print(f"\nGateway under load, {args.duration:.0f} s per row; load average {run['load']} (1/5/15 min at start); "
          f"each configuration's floors measured right before its rows")
    print(f"{'row':<52}{'ops/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'p50 ×floor':>12}  errors, load")
    for c in run["configs"]:
        f = c["floors"]
        hello = f["hello"]
        print(f"{c['db']}, {c['exchanges']} exchange instance(s)")
        print(f"{'  floor amqp: raw AMQP request/reply (sequential)':<52}{1000 / f['amqp']['mean']:>9.0f}"
              f"{f['amqp']['p50']:>9.2f}{f['amqp']['p99']:>9.2f}")
        print(f"{'  floor ecdsa: raw ECDSA P-256 sign (sequential)':<52}{1000 / f['ecdsa']['mean']:>9.0f}"
              f"{f['ecdsa']['p50']:>9.3f}{f['ecdsa']['p99']:>9.3f}")
        print(f"{f'  floor hello: bare eventlet WSGI, {args.poll_clients} clients':<52}{hello['rate']:>9.0f}"
              f"{hello['p50']:>9.2f}{hello['p99']:>9.2f}{'':>12}  {hello['errors'] or ''}")
        for key, clients, what, floor in (("send", args.send_clients, "docs", f["amqp"]["p50"]),
                                          ("inbox", args.poll_clients, "polls", hello["p50"])):
            row = c[key]
            label = f"  {key} ({clients} clients, {what}/s)"
            print(f"{label:<52}{row['rate']:>9.1f}{row['p50']:>9.2f}{row['p99']:>9.2f}{row['p50'] / floor:>12.1f}"
                  f"  {row['errors'] or ''} load {c['load']}")
            print(f"    suite CPU per operation, ms: {row['cpu_ms']}")
            print(f"    the machine's CPU per operation, ms: {row['machine_ms']}")
            print(f"    work per operation: {row['work']}")
    print("(send ×floor: its p50 over the raw AMQP p50; inbox: over the hello p50 with as many clients; CPU per\n"
          " operation: user+system time of every suite process during the row and the 6 s after it (the\n"
          " consumers' tail) over the operations answered; the machine's: the same of the suite, RabbitMQ,\n"
          " PostgreSQL and the load clients, and the rest of the machine's busy time (/proc/stat); work: broker\n"
          " messages published and delivered (management API), PostgreSQL transactions and rows written\n"
          " (pg_stat_database), over the same time)")
    print(json.dumps({"bench": "gateway_load", "args": vars(args), **run}, default=str))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=20, help="seconds of each load row")
    parser.add_argument("--send-clients", type=int, default=8)
    parser.add_argument("--poll-clients", type=int, default=16)
    parser.add_argument("--db", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--exchanges", default="1,2", help="comma-separated exchange instance counts")
    parser.add_argument("--floor-calls", type=int, default=500)
    parser.add_argument("--profile", help="a directory: py-spy profiles of gateway, seal and exchange per row")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--hello-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--floors", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path[:0] = [str(HERE), str(ROOT), str(ROOT / "tests")]
    if args.client:
        print(json.dumps(client(json.loads(sys.stdin.readline()))))
        return
    if args.hello_server:
        return hello_server(args.hello_server)
    from gongwen_local.ports import free_port

    if args.floors:
        print(json.dumps(floors(args.floors, args, free_port)))
        return

    from gongwen_local.postgres import PostgresCluster
    from gongwen_local.rabbitmq import RabbitNode

    dbs = args.db.split(",")
    # Under var/ with ordinary permissions, as the tests' stacks: PostgreSQL runs as its own user.
    work = ROOT / "var" / f"bench-load-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    print(f"work directory (logs, databases): {work}", flush=True)
    rabbit = RabbitNode(work / "rabbit", node_name=f"gwload{uuid.uuid4().hex[:6]}")
    postgres = PostgresCluster(work / "postgres") if "postgres" in dbs else None
    try:
        rabbit.start()
        if postgres:
            postgres.start()
        run = {"load": [round(x, 2) for x in os.getloadavg()]}
        import conftest  # noqa: F401  (patches eventlet, as the service processes and the tests are)

        run["configs"] = [configuration(db, int(n), rabbit, postgres, work, args, free_port)
                          for db in dbs for n in args.exchanges.split(",")]
        report(run, args)
    finally:
        if postgres:
            postgres.stop()
        rabbit.stop()


if __name__ == "__main__":
    sys.exit(main())
