"""Gateway→service RPC round trip beside a raw AMQP round trip, measured in the same run.

Starts its own RabbitMQ node and the suite (SQLite), then measures, on one broker:
  floor      raw AMQP request/reply with pika: publish to a queue, an echo process in another
             process replies on a reply queue (no nameko, no database)
  green      the same with kombu under eventlet at both ends, as nameko runs: the hub's share
  echo       nameko RPC to an echo method without a database (``rpc_echo.py``), under nameko's own
             ``rpc`` (classic queue, its reply) and under the suite's (quorum queue, commit step,
             log line, ``entrypoints.Reply``): nameko's share, then the suite entrypoint's
  rpc        nameko RPC to a service, as the gateway makes it (``registry.get_unit``: one
             primary-key read in the service's database)
  http       the whole path a department system sees: GET /api/v1/units/{code} through the
             gateway with a bearer token (HTTP → token check → gateway worker → RPC →
             registry → database and back)
and prints p50/p99 and the ratio of each to the floor. Usage: ``make bench`` (or
``python bench/rpc_roundtrip.py --calls 2000``; ``--profile DIR`` records where the time goes,
read with ``python bench/profile_top.py DIR``).
"""
import warnings

warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

ECHO_QUEUE = "bench.echo"
GREEN_ECHO_QUEUE = "bench.green_echo"


def echo_server(amqp_url):
    """The floor's other side: a separate process, as a service is."""
    import pika

    channel = pika.BlockingConnection(pika.URLParameters(amqp_url)).channel()
    channel.queue_declare(ECHO_QUEUE, auto_delete=True)

    def reply(ch, method, props, body):
        ch.basic_publish("", props.reply_to, body, pika.BasicProperties(correlation_id=props.correlation_id))
        ch.basic_ack(method.delivery_tag)

    channel.basic_qos(prefetch_count=10)
    channel.basic_consume(ECHO_QUEUE, reply)
    channel.start_consuming()


def green_echo_server(amqp_uri):
    """The green floor's other side: kombu under eventlet, replies unconfirmed (as ``Reply``)."""
    import eventlet

    eventlet.monkey_patch()
    from kombu import Connection, Producer, Queue

    connection = Connection(amqp_uri)
    producer = Producer(connection.channel())

    def reply(body, message):
        producer.publish(body, routing_key=message.properties["reply_to"],
                         correlation_id=message.properties["correlation_id"], serializer="json")
        message.ack()

    with connection.Consumer(Queue(GREEN_ECHO_QUEUE, auto_delete=True), callbacks=[reply]):
        while True:
            connection.drain_events()


def measure_green_floor(amqp_uri, calls):
    """Request/reply with kombu in this (monkey-patched) process against ``green_echo_server``."""
    from kombu import Connection, Consumer, Producer, Queue

    connection = Connection(amqp_uri)
    requests = Queue(GREEN_ECHO_QUEUE, auto_delete=True)
    deadline = time.monotonic() + 20
    while requests(connection.channel()).queue_declare().consumer_count == 0:
        if time.monotonic() > deadline:
            raise RuntimeError("the green echo process did not start")
        time.sleep(0.1)
    replies = Queue(f"bench.green_reply.{uuid.uuid4().hex}", exclusive=True, auto_delete=True)
    got = {}

    def on_reply(body, message):
        got[message.properties["correlation_id"]] = body
        message.ack()

    Consumer(connection.channel(), [replies], callbacks=[on_reply]).consume()
    producer = Producer(connection.channel())

    def round_trip():
        cid = uuid.uuid4().hex
        producer.publish({"args": [], "kwargs": {}}, routing_key=GREEN_ECHO_QUEUE, reply_to=replies.name,
                         correlation_id=cid, serializer="json")
        while cid not in got:
            connection.drain_events()
        del got[cid]

    return time_calls(round_trip, calls)


def percentiles(samples):
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {"p50": pick(0.50), "p99": pick(0.99), "mean": statistics.fmean(ordered) * 1000}


def time_calls(call, calls, warmup=50):
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


def with_cpu(row, calls: int, broker_pid: int, answering: dict, warmup=50) -> dict:
    """``row()``'s figures (it makes ``calls`` calls after ``warmup``, as ``time_calls``) with the CPU
    milliseconds per call of the caller (this process), the processes that ``answering`` names and the
    broker: what a call costs the machine, beside what it takes in time."""
    from gateway_load import tree_cpu_seconds  # a sibling script: bench/ is this one's path

    def now():
        own = os.times()
        return {"caller": own.user + own.system, "broker": tree_cpu_seconds(broker_pid),
                **{name: tree_cpu_seconds(pid) for name, pid in answering.items()}}

    before = now()
    figures = row()
    after = now()
    figures["cpu_ms"] = {name: round(1000 * (after[name] - before[name]) / (calls + warmup), 3) for name in after}
    return figures


def measure_floor(amqp_url, calls):
    import pika

    channel = pika.BlockingConnection(pika.URLParameters(amqp_url)).channel()
    reply_queue = channel.queue_declare("", exclusive=True).method.queue
    deadline = time.monotonic() + 20
    while channel.queue_declare(ECHO_QUEUE, auto_delete=True).method.consumer_count == 0:
        if time.monotonic() > deadline:
            raise RuntimeError("the echo process did not start")
        time.sleep(0.1)
    got = {}

    def on_reply(ch, method, props, body):
        got[props.correlation_id] = body

    channel.basic_consume(reply_queue, on_reply, auto_ack=True)

    def round_trip():
        cid = uuid.uuid4().hex
        channel.basic_publish("", ECHO_QUEUE, b'{"args": [], "kwargs": {}}',
                              pika.BasicProperties(reply_to=reply_queue, correlation_id=cid))
        while cid not in got:
            channel.connection.process_data_events(time_limit=None)
        del got[cid]

    return time_calls(round_trip, calls)


def wait_for_echo(cluster, timeout=30):
    """Until ``rpc_echo``'s services consume (a call before that is an ``UnknownService``)."""
    from nameko.exceptions import UnknownService

    deadline = time.monotonic() + timeout
    while True:
        try:
            cluster.bench_echo_stock.echo(1)
            cluster.bench_echo_suite.echo(1)
            return
        except UnknownService:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def operator_token(gateway_url, amqp_uri, work):
    """Log in as the demo operator with password + U_Key signature, as the CLI does."""
    from gongwen_cli.gateway import Gateway
    from gongwen_cli.u_key import KeyFileSigner
    from gongwen_local.demo import ensure_demo

    operator = ensure_demo(amqp_uri, gateway_url, work)["operator"]
    signer = KeyFileSigner(Path(operator["key_file"]))
    return Gateway(gateway_url).login(operator["username"], operator["password"], signer)["access_token"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--profile", help="a directory: py-spy profiles of this process and registry during the "
                                          "RPC row, of the gateway and registry during the HTTP row")
    parser.add_argument("--echo-server", help=argparse.SUPPRESS)
    parser.add_argument("--green-echo-server", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo_server:
        return echo_server(args.echo_server)
    if args.green_echo_server:
        return green_echo_server(args.green_echo_server)

    from gongwen_local.keks import local_keks
    from gongwen_local.ports import free_port
    from gongwen_local.rabbitmq import RabbitNode
    from gongwen_local.stack import SERVICES, Stack

    work = Path(tempfile.mkdtemp(prefix="gongwen-bench-"))
    rabbit = RabbitNode(work / "rabbit", node_name=f"gwbench{uuid.uuid4().hex[:6]}")
    stack = None
    helpers = []
    try:
        rabbit.start()
        uri = rabbit.amqp_uri()
        stack = Stack(uri, {s: f"sqlite:///{work}/db/{s}.sqlite3" for s in SERVICES}, free_port(), work / "log",
                      env=local_keks(work))
        stack.start()
        code = "bench-unit"
        bearer = {"Authorization": f"Bearer {operator_token(stack.gateway_url, uri, work)}"}
        unit = {"code": code, "name": "基准测试单位", "kind": "department"}
        request = urllib.request.Request(f"{stack.gateway_url}/api/v1/units", method="POST",
                                         data=json.dumps(unit).encode(),
                                         headers={"Content-Type": "application/json", **bearer})
        urllib.request.urlopen(request).read()

        amqp_url = uri.replace("pyamqp://", "amqp://")
        here = Path(__file__).resolve().parent
        helpers.append(subprocess.Popen([sys.executable, __file__, "--echo-server", amqp_url]))
        helpers.append(subprocess.Popen([sys.executable, __file__, "--green-echo-server", uri]))
        helpers.append(subprocess.Popen([sys.executable, "-m", "nameko", "run", "--broker", uri, "rpc_echo"],
                                        cwd=here, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        broker = rabbit.pid
        pid_of = {p.name: p.process.pid for p in stack.processes}
        echo, green_echo, nameko_echo = (helper.pid for helper in helpers)
        time.sleep(2)  # the echo processes' start-up is not the calls' CPU
        floor = with_cpu(lambda: measure_floor(amqp_url, args.calls), args.calls, broker, {"echo": echo})

        import eventlet

        eventlet.monkey_patch()
        from gateway_load import profiled  # a sibling script: bench/ is this one's path
        from nameko.standalone.rpc import ClusterRpcProxy

        green = with_cpu(lambda: measure_green_floor(uri, args.calls), args.calls, broker, {"echo": green_echo})
        with ClusterRpcProxy({"AMQP_URI": uri}) as cluster:
            wait_for_echo(cluster)
            stock = with_cpu(lambda: time_calls(lambda: cluster.bench_echo_stock.echo({"x": 1}), args.calls),
                             args.calls, broker, {"echo": nameko_echo})
            suite = with_cpu(lambda: time_calls(lambda: cluster.bench_echo_suite.echo({"x": 1}), args.calls),
                             args.calls, broker, {"echo": nameko_echo})
            with profiled(stack, args.profile, "rpc", names=("registry",), own=True):
                rpc = with_cpu(lambda: time_calls(lambda: cluster.registry.get_unit(code), args.calls),
                               args.calls, broker, {"registry": pid_of["registry"]})

        def http_get():
            get = urllib.request.Request(f"{stack.gateway_url}/api/v1/units/{code}", headers=bearer)
            with urllib.request.urlopen(get) as reply:
                reply.read()

        with profiled(stack, args.profile, "http", names=("gateway", "registry")):
            http = with_cpu(lambda: time_calls(http_get, args.calls), args.calls, broker,
                            {"gateway": pid_of["gateway"], "registry": pid_of["registry"]})

        print(f"\nRPC round trip, {args.calls} sequential calls each, one broker, 2-core machine")
        print(f"{'path':<46}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'p50 ×floor':>12}  CPU ms per call")
        for label, figures in (("floor: raw AMQP request/reply (pika)", floor),
                               ("kombu request/reply, eventlet both ends", green),
                               ("nameko RPC → echo, nameko's rpc", stock),
                               ("nameko RPC → echo, the suite's rpc", suite),
                               ("nameko RPC → registry.get_unit (DB read)", rpc),
                               ("HTTP GET /api/v1/units/{code} via gateway", http)):
            spent = ", ".join(f"{name} {ms:.2f}" for name, ms in figures["cpu_ms"].items())
            print(f"{label:<46}{figures['p50']:>9.2f}{figures['p99']:>9.2f}{figures['mean']:>9.2f}"
                  f"{figures['p50'] / floor['p50']:>12.1f}  {spent}")
        print("(CPU per call: user+system time during the row over its calls, warm-up included, of the caller\n"
              " (this process), the processes that answer and the broker (RabbitMQ's beam.smp and its children))")
    finally:
        for helper in helpers:
            helper.kill()
            helper.wait()
        if stack:
            stack.stop()
        rabbit.stop()


if __name__ == "__main__":
    sys.exit(main())
