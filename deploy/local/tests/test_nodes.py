"""Real RabbitMQ / PostgreSQL nodes: start, use, restart, stop, and leave nothing behind."""
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pika
import pytest

from gongwen_local.postgres import PostgresCluster
from gongwen_local.rabbitmq import RabbitNode

pytestmark = pytest.mark.skipif(
    not Path("/usr/lib/rabbitmq/bin/rabbitmq-server").exists()
    or not Path("/usr/lib/postgresql").exists(),
    reason="rabbitmq-server / postgresql not installed",
)


@pytest.fixture
def scratch():
    # Not tmp_path: pytest resets /tmp/pytest-of-<user> to 0700 whenever a
    # session (or xdist worker) starts, which would lock the rabbitmq and
    # postgres users out of a running node's files.
    path = Path(tempfile.mkdtemp(prefix="gongwen-nodes-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _ps() -> dict[int, tuple[int, str, str]]:
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,stat=,args="],
                         capture_output=True, text=True, check=True).stdout
    procs = {}
    for line in out.splitlines():
        pid, ppid, stat, *args = line.split(None, 3)
        procs[int(pid)] = (int(ppid), stat, args[0] if args else "")
    return procs


def _mentions(args: str, needles: tuple[str, ...]) -> bool:
    return any(n in args for n in needles)


def _node_processes(roots: list[int], *needles: str) -> dict[int, str]:
    """Live processes mentioning a needle, plus all descendants of them and of `roots`."""
    procs = {p: v for p, v in _ps().items() if not v[1].startswith("Z")}
    found = {p for p in roots if p in procs} | {p for p, v in procs.items() if _mentions(v[2], needles)}
    while True:
        more = {p for p, v in procs.items() if v[0] in found} - found
        if not more:
            return {p: procs[p][2] for p in found}
        found |= more


def _assert_gone(before: dict[int, str], *needles: str) -> None:
    # Zombies are ignored: they are dead, merely waiting for init to reap them.
    now = {p: v[2] for p, v in _ps().items() if not v[1].startswith("Z")}
    left = {p: a for p, a in before.items() if now.get(p) == a}
    left.update({p: a for p, a in now.items() if _mentions(a, needles)})
    assert not left, f"processes left behind: {left}"


def _rabbit_needles(node: RabbitNode) -> tuple[str, ...]:
    # Erlang VMs carry `-home <base_dir>/home`; the node's private epmd its port.
    return str(node.base_dir), f"epmd -port {node.epmd_port} "


def _pika(node: RabbitNode, vhost: str) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.URLParameters("amqp" + node.amqp_uri(vhost)[len("pyamqp"):]))


def test_rabbit_quorum_message_survives_restart(scratch):
    node = RabbitNode(scratch / "rabbit", node_name="gongwen-test")
    try:
        node.start()
        assert node.is_running()
        ports = (node.amqp_port, node.dist_port, node.mgmt_port)
        node.add_vhost("gw-test")
        node.add_vhost("gw-test")  # idempotent

        conn = _pika(node, "gw-test")
        ch = conn.channel()
        ch.confirm_delivery()
        ch.queue_declare("q", durable=True, arguments={"x-queue-type": "quorum"})
        ch.basic_publish("", "q", b"hello", pika.BasicProperties(delivery_mode=2))
        conn.close()

        node.stop()
        assert not node.is_running()
        node.stop()  # idempotent
        node.start()
        assert (node.amqp_port, node.dist_port, node.mgmt_port) == ports

        conn = _pika(node, "gw-test")
        method, _, body = conn.channel().basic_get("q", auto_ack=True)
        conn.close()
        assert method is not None and body == b"hello"

        node.add_vhost("scratch")
        node.delete_vhost("scratch")
        node.delete_vhost("scratch")  # idempotent
        before = _node_processes([node.pid], *_rabbit_needles(node))
        assert len(before) > 2  # wrapper, beam.smp, erl_child_setup, epmd, ...
    finally:
        node.stop()
    _assert_gone(before, *_rabbit_needles(node))


def test_two_rabbit_nodes_at_once(scratch):
    nodes = [RabbitNode(scratch / n, node_name=n) for n in ("gw-one", "gw-two")]
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda n: n.start(), nodes))
        for node in nodes:
            conn = _pika(node, "/")
            conn.channel().queue_declare(node.node, exclusive=True)
            conn.close()
        before = {n.node: _node_processes([n.pid], *_rabbit_needles(n)) for n in nodes}
    finally:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda n: n.stop(), nodes))
    for node in nodes:
        _assert_gone(before[node.node], *_rabbit_needles(node))


def test_postgres_data_survives_restart(scratch):
    pg = PostgresCluster(scratch / "pg")
    data_dir = str(pg.data_dir)
    try:
        pg.start()
        pg.create_database("gw_test")
        pg.create_database("gw_test")  # idempotent
        assert pg.url("gw_test") == f"postgresql+psycopg2://postgres@127.0.0.1:{pg.port}/gw_test"
        with pg.connect("gw_test") as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (42)")
        pg.stop()
        pg.stop()  # idempotent
        pg.start()
        conn = pg.connect("gw_test")
        with conn.cursor() as cur:
            cur.execute("SELECT x FROM t")
            assert cur.fetchall() == [(42,)]
        pg.drop_database("gw_test")  # must cut the open connection
        conn.close()
        with pg.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_database WHERE datname = 'gw_test'")
            assert cur.fetchone() == (0,)
        conn.close()
        before = _node_processes([pg.pid], data_dir)
        assert len(before) > 1  # postmaster and its helpers
    finally:
        pg.stop()
    _assert_gone(before, data_dir)
