"""Sends through the gateway with 1 and then 3 exchange instances, in the same run, on one machine.

Starts its own RabbitMQ node, PostgreSQL cluster (several instances of a service share its
database; SQLite's single writer would measure the lock instead) and the suite, makes the demo
(``demo-a``'s clerk holds an active seal, ``demo-b`` receives), signs the clerk in as the CLI does
(password + U_Key signature), then ``--clients`` department systems send ``--documents`` small
sealed documents each way (``POST /api/v1/documents``, one recipient, each under its own
Idempotency-Key) as fast as they are answered, first with one exchange instance, then after two more
have started and joined the RPC queue. Prints documents/s, latency percentiles and a reading.
Usage: ``make bench`` (or ``python bench/scaling.py --documents 300 --clients 12``).
"""
import warnings

warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

import requests  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rpc_roundtrip import percentiles  # noqa: E402

WARMUP = 20  # sends before each timed phase (connections, caches, the new instances' first calls)


def clerk_token(gateway_url: str, amqp_uri: str, work: Path) -> str:
    """The demo sender's clerk, signed in with password + U_Key signature (as ``gongwen login`` does)."""
    from gongwen_cli.gateway import Gateway
    from gongwen_cli.u_key import KeyFileSigner
    from gongwen_local.demo import ensure_demo

    clerk = ensure_demo(amqp_uri, gateway_url, work)["clerks"][0]
    return Gateway(gateway_url).login(clerk["username"], clerk["password"], KeyFileSigner(Path(clerk["key_file"])))[
        "access_token"]


class Sends:
    def __init__(self, gateway_url: str, token: str, sender: str, recipient: str):
        self.url, self.sender, self.recipient = f"{gateway_url}/api/v1/documents", sender, recipient
        self.headers = {"Authorization": f"Bearer {token}"}
        self.tag = uuid.uuid4().hex[:6]
        self.numbers = iter(range(1, 10**9))
        self.lock = threading.Lock()

    def one(self, http: requests.Session) -> float:
        with self.lock:
            n = next(self.numbers)
        metadata = {"doc_number": f"示范〔2026〕{self.tag}{n:06d}号", "title": "关于做好扩容基准测试工作的通知",
                    "signer": "张三", "urgency": "normal", "secrecy": "none", "main_recipients": [self.recipient]}
        body = ("<p>" + "根据工作安排，现将有关事项通知如下。" * 40 + f"</p><p>{n}</p>").encode()
        started = time.perf_counter()
        reply = http.post(self.url, data={"metadata": json.dumps(metadata, ensure_ascii=False)},
                          files=[("body", ("正文.html", body))],
                          headers={**self.headers, "Idempotency-Key": f"{self.tag}-{n}"}, timeout=120)
        if reply.status_code != 201:
            raise RuntimeError(f"send answered {reply.status_code}: {reply.text[:300]}")
        return time.perf_counter() - started

    def phase(self, documents: int, clients: int) -> dict:
        """``documents`` sends shared by ``clients`` threads; documents/s and latency."""
        remaining, latencies, errors = [documents], [], []

        def client():
            http = requests.Session()
            while True:
                with self.lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                try:
                    latencies.append(self.one(http))
                except Exception as exc:  # noqa: BLE001 - reported below, the phase still ends
                    errors.append(str(exc))

        for _ in range(WARMUP):
            self.one(requests.Session())
        started = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        if errors:
            raise RuntimeError(f"{len(errors)} sends failed, e.g. {errors[0]}")
        return {"documents": documents, "clients": clients, "seconds": round(wall, 2),
                "documents_per_s": round(documents / wall, 1),
                **{name: round(ms, 1) for name, ms in percentiles(latencies).items()}}  # ms


def joined(processes, timeout=90) -> None:
    """Wait until each new instance has connected to the broker (its consumers are then declared)."""
    deadline = time.monotonic() + timeout
    for proc in processes:
        while b"Connected to amqp" not in (proc.log_path.read_bytes() if proc.log_path.exists() else b""):
            if not proc.alive or time.monotonic() > deadline:
                raise RuntimeError(f"{proc.name}-{proc.index} did not start; see {proc.log_path}")
            time.sleep(0.2)


def handled(stack) -> dict:
    """Sends each exchange instance answered so far, from its log (one line per RPC)."""
    return {f"exchange-{p.index}": p.log_path.read_bytes().count(b'"rpc send_document ok"')
            for p in stack.processes if p.name == "exchange"}


def report(one: dict, three: dict) -> None:
    gain = three["documents_per_s"] / one["documents_per_s"]
    print("\nexchange instances  documents  clients  seconds  documents/s   p50 ms   p99 ms  mean ms")
    for instances, row in ((1, one), (3, three)):
        print(f"{instances:>18}  {row['documents']:>9}  {row['clients']:>7}  {row['seconds']:>7}  "
              f"{row['documents_per_s']:>11}  {row['p50']:>7.0f}  {row['p99']:>7.0f}  {row['mean']:>7.0f}")
    cores = os.cpu_count() or 1
    print(f"sends answered by each instance with 3 (warm-up included): {three['per_instance']}")
    print(f"""
Reading: 3 exchange instances send {gain:.2f}x the documents per second of 1 ({cores} CPU core(s) here).
An exchange instance is one eventlet process: one core at most, and it spends much of each send
waiting on seal.sign and PostgreSQL, so more instances help until the cores, the single seal
instance (every send signs through it) or the gateway saturate. On a machine with fewer cores than
processes (every service, the gateway, RabbitMQ and PostgreSQL share them here) the gain is small
or none: the ratio shows what scaling the exchange alone buys on this machine. The RPC queue hands
each call to one instance (the counts above add up to the sends).""")
    print(json.dumps({"bench": "scaling", "cpu_cores": cores, "one_exchange": one, "three_exchanges": three,
                      "gain": round(gain, 2)}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=300, help="timed sends in each phase")
    parser.add_argument("--clients", type=int, default=12, help="concurrent department systems sending")
    args = parser.parse_args()

    from gongwen_local.keks import local_keks
    from gongwen_local.ports import free_port
    from gongwen_local.postgres import PostgresCluster
    from gongwen_local.rabbitmq import RabbitNode
    from gongwen_local.stack import SERVICES, Stack

    work = Path(tempfile.mkdtemp(prefix="gongwen-bench-scaling-"))
    print(f"work directory (logs, databases): {work}", flush=True)
    rabbit = RabbitNode(work / "rabbit", node_name=f"gwbench{uuid.uuid4().hex[:6]}")
    postgres = PostgresCluster(work / "postgres")
    stack = None
    try:
        rabbit.start()
        postgres.start()
        for name in SERVICES:
            postgres.create_database(f"gongwen_{name}")
        stack = Stack(rabbit.amqp_uri(), {s: postgres.url(f"gongwen_{s}") for s in SERVICES}, free_port(),
                      work / "log", env=local_keks(work))
        stack.start()
        sends = Sends(stack.gateway_url, clerk_token(stack.gateway_url, rabbit.amqp_uri(), work), "demo-a", "demo-b")
        print(f"1 exchange instance: {args.documents} sends from {args.clients} clients …", flush=True)
        one = sends.phase(args.documents, args.clients)
        joined(stack.start_service("exchange", instances=2))
        print(f"3 exchange instances: {args.documents} sends from {args.clients} clients …", flush=True)
        before = handled(stack)
        three = sends.phase(args.documents, args.clients)
        three["per_instance"] = {name: count - before.get(name, 0) for name, count in handled(stack).items()}
        report(one, three)
    finally:
        if stack:
            stack.stop()
        postgres.stop()
        rabbit.stop()


if __name__ == "__main__":
    sys.exit(main())
