"""A project-local RabbitMQ node: all state under base_dir, loopback only.

Design notes (traps found on Debian's rabbitmq-server 3.10):
- We call /usr/lib/rabbitmq/bin/* directly rather than Debian's /usr/sbin
  wrappers: those force cwd=/var/lib/rabbitmq, HOME (hence the system
  Erlang cookie) and log startup output to /var/log/rabbitmq.
- The Erlang cookie lives in base_dir/home (HOME for both the server and
  rabbitmqctl), so the CLI can always authenticate and nothing is shared
  with a system node.
- Each node gets its own epmd on a private port which we start and stop
  ourselves. An auto-started epmd daemonizes out of our reach and lingers
  forever; a private one also keeps concurrent nodes fully independent.
- A cluster (``RabbitCluster``) shares one private epmd among its nodes (Erlang
  distribution finds a peer through the epmd on its own ERL_EPMD_PORT) and
  one cookie, written into each node's home.
"""
import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

from . import prepare_dir, service_user
from .ports import free_port

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
EPMD = "epmd"

# Never send loopback requests through an http_proxy from the environment.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class RabbitNode:
    def __init__(
        self,
        base_dir: Path,
        node_name: str = "gongwen",
        amqp_port: int | None = None,
        dist_port: int | None = None,
        mgmt_port: int | None = None,
        epmd_port: int | None = None,
        cookie: str | None = None,
        quorum_cluster_size: int | None = None,
    ):
        self.base_dir = Path(base_dir).resolve()
        # "localhost" always resolves to loopback, unlike the machine's hostname.
        self.node = f"{node_name}@localhost"
        self.amqp_port = amqp_port or free_port()
        self.dist_port = dist_port or free_port()
        self.mgmt_port = mgmt_port or free_port()
        # A given epmd port is a cluster's shared epmd, started and stopped by the cluster.
        self.own_epmd = epmd_port is None
        self.epmd_port = epmd_port or free_port()
        self.cookie = cookie
        self.quorum_cluster_size = quorum_cluster_size  # members of a new quorum queue (default 3)
        self.pid: int | None = None  # the rabbitmq-server script; beam.smp is its child
        self._as = service_user("rabbitmq")
        self._server: subprocess.Popen | None = None
        self._epmd: subprocess.Popen | None = None

    @property
    def mgmt_url(self) -> str:
        return f"http://127.0.0.1:{self.mgmt_port}"

    def amqp_uri(self, vhost: str = "/") -> str:
        return f"pyamqp://guest:guest@127.0.0.1:{self.amqp_port}/{quote(vhost, safe='')}"

    def is_running(self) -> bool:
        return self._server is not None and self._server.poll() is None

    # -- lifecycle -----------------------------------------------------------

    def start(self, timeout: float = 90) -> None:
        if self.is_running():
            return
        deadline = time.monotonic() + timeout
        # A crashed run (e.g. a killed test runner) may have left a node on
        # this base_dir, holding its ports and the Mnesia lock.
        _terminate(self._processes(), grace=0)
        self._write_files()
        prepare_dir(self.base_dir, self._as)
        try:
            if self.own_epmd:
                self._start_epmd(deadline)
            with open(self.base_dir / "server.out", "ab") as out:
                self._server = subprocess.Popen(
                    [str(RABBIT_BIN / "rabbitmq-server")],
                    cwd=self.base_dir, env=self._env(), stdin=subprocess.DEVNULL,
                    stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True,  # a terminal's Ctrl-C must not hit it before stop()
                    **self._as,
                )
            self.pid = self._server.pid
            self._await_startup(deadline)
            self._await_management(deadline)
        except BaseException:
            self._kill()
            raise

    def stop(self, timeout: float = 60) -> None:
        if self._server is not None and self._server.poll() is None:
            # Snapshot first: once beam.smp is gone its helpers are reparented
            # to init and can no longer be found from our pid.
            procs = self._processes(with_epmd=False)  # epmd only goes when told to
            try:
                stopping = self._ctl("stop", timeout=timeout, check=False).returncode == 0
            except subprocess.TimeoutExpired:
                stopping = False
            # A node that acknowledged the stop gets time to shut down cleanly.
            _terminate(procs, grace=timeout if stopping else 0)
        self._kill()

    def crash(self) -> None:
        """``kill -9`` of the node: its Erlang VM and helpers die at once, without any goodbye to
        clients or peers; nothing of it is left running."""
        procs = self._processes(with_epmd=False)
        for pid, _ in procs:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._kill()

    def __enter__(self) -> "RabbitNode":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- management API ----------------------------------------------------

    def add_vhost(self, name: str) -> None:
        vhost = quote(name, safe="")
        self._api("PUT", f"/api/vhosts/{vhost}", {})
        self._api("PUT", f"/api/permissions/{vhost}/guest",
                  {"configure": ".*", "write": ".*", "read": ".*"})

    def delete_vhost(self, name: str) -> None:
        try:
            self._api("DELETE", f"/api/vhosts/{quote(name, safe='')}")
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise

    def _get(self, path: str, timeout: float = 30):
        return json.loads(self._request("GET", path, timeout=timeout)[1])

    def _api(self, method: str, path: str, body: dict | None = None, timeout: float = 30) -> int:
        return self._request(method, path, body, timeout)[0]

    def _request(self, method: str, path: str, body: dict | None = None, timeout: float = 30) -> tuple[int, bytes]:
        """One call of the management API as guest (loopback only): its status and body."""
        auth = base64.b64encode(b"guest:guest").decode()
        req = urllib.request.Request(
            self.mgmt_url + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"},
        )
        with _HTTP.open(req, timeout=timeout) as resp:
            return resp.status, resp.read()

    # -- internals -----------------------------------------------------------

    def _env(self) -> dict:
        b = self.base_dir
        # Drop inherited RABBITMQ_*/ERL_* settings: they would silently
        # redirect this node (e.g. a developer's RABBITMQ_NODENAME).
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            HOME=str(b / "home"),  # Erlang reads the cookie from $HOME
            LANG="C.UTF-8", LC_ALL="C.UTF-8",  # the Elixir CLI wants UTF-8
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.amqp_port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(b / "mnesia"),
            RABBITMQ_LOG_BASE=str(b / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(b / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(b / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(b / "advanced.config"),
            # Keep /etc/rabbitmq/rabbitmq-env.conf from overriding the above.
            RABBITMQ_CONF_ENV_FILE=str(b / "rabbitmq-env.conf"),
            RABBITMQ_SERVER_START_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
            ERL_EPMD_ADDRESS="127.0.0.1",
            ERL_EPMD_PORT=str(self.epmd_port),
            ERL_CRASH_DUMP=str(b / "erl_crash.dump"),
        )
        return env

    def _write_files(self) -> None:
        b = self.base_dir
        for d in (b / "home", b / "mnesia", b / "log"):
            d.mkdir(parents=True, exist_ok=True)
        (b / "enabled_plugins").write_text("[rabbitmq_management].\n")
        (b / "rabbitmq-env.conf").write_text("")
        (b / "advanced.config").write_text(
            f"[{{rabbit, [{{quorum_cluster_size, {self.quorum_cluster_size}}}]}}].\n"
            if self.quorum_cluster_size else "[].\n")
        (b / "rabbitmq.conf").write_text(
            f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {self.mgmt_port}\n"
        )
        cookie = b / "home" / ".erlang.cookie"
        if self.cookie is not None and cookie.exists() and cookie.read_text() != self.cookie:
            cookie.unlink()
        if not cookie.exists():  # kept across restarts
            cookie.write_text(self.cookie or secrets.token_hex(20))
            cookie.chmod(0o400)  # Erlang rejects cookies readable by others

    def _start_epmd(self, deadline: float) -> None:
        try:
            self._epmd = start_epmd(self.base_dir, self.epmd_port, self._as, deadline)
        except RuntimeError as exc:
            raise self._failure(str(exc)) from None

    def _await_startup(self, deadline: float) -> None:
        # await_startup fails fast while the Erlang node is not reachable yet,
        # then blocks until the broker has booted.
        while True:
            if self._server.poll() is not None:
                raise self._failure(f"rabbitmq-server exited with code {self._server.returncode}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._failure("timed out waiting for rabbitmqctl await_startup")
            try:
                r = self._ctl("await_startup", "--timeout", str(max(1, int(remaining))),
                              timeout=remaining + 5, check=False)
            except subprocess.TimeoutExpired:
                continue
            if r.returncode == 0:
                return
            time.sleep(0.5)

    def _await_management(self, deadline: float) -> None:
        while True:
            try:
                if self._api("GET", "/api/overview", timeout=5) == 200:
                    return
            except (OSError, urllib.error.URLError):
                pass
            if self._server.poll() is not None or time.monotonic() > deadline:
                raise self._failure("management API did not come up")
            time.sleep(0.3)

    def _ctl(self, *args: str, timeout: float, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node, *args],
            cwd=self.base_dir, env=self._env(), stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=timeout, check=check, **self._as,
        )

    def _kill(self) -> None:
        """Make sure nothing of this node is left: beam.smp, erl_child_setup, inet_gethost, epmd."""
        _terminate(self._processes(), grace=0)
        for proc in (self._server, self._epmd):
            if proc is not None:
                proc.wait()
        self._server = self._epmd = None
        self.pid = None

    def _processes(self, with_epmd: bool = True) -> set[tuple[int, int]]:
        """This node's processes: those we spawned, and, found through /proc,
        CLI VMs, a beam.smp orphaned by its wrapper and leftovers of a crashed run."""
        roots = {p.pid for p in (self._server, with_epmd and self._epmd) if p}
        home = str(self.base_dir / "home").encode()
        for d in Path("/proc").iterdir():
            try:
                # Every Erlang VM we start has `-home <base_dir>/home` in its
                # command line; our epmd runs in base_dir.
                if d.name.isdigit() and (
                    home in (d / "cmdline").read_bytes().split(b"\0")
                    or with_epmd and (d / "comm").read_text() == "epmd\n"
                    and os.readlink(d / "cwd") == str(self.base_dir)
                ):
                    roots.add(int(d.name))
            except OSError:
                pass
        return _process_tree(roots)

    def _failure(self, what: str) -> RuntimeError:
        tails = []
        for f in (self.base_dir / "server.out", self.base_dir / "log" / f"{self.node}.log",
                  self.base_dir / "epmd.out"):
            if f.exists():
                lines = f.read_text(errors="replace").splitlines()[-40:]
                tails.append(f"--- {f} ---\n" + "\n".join(lines))
        return RuntimeError(f"RabbitMQ node {self.node}: {what}\n" + "\n".join(tails))


class RabbitCluster:
    """``size`` project-local nodes on loopback, clustered: one cookie, one private epmd, each node
    its own ports and directory under ``base_dir/node<i>``.

    Nodes 2..N join node 1 (``stop_app``, ``join_cluster``, ``start_app``). Quorum queues declared
    once the cluster is whole get a member on every node (``quorum_cluster_size``, whose default
    of 3 would leave the nodes past the third without a replica), so they keep a majority when any
    one of three nodes dies. The same interface as ``RabbitNode`` for stacks: ``amqp_uri`` names every
    node, ``;``-separated, which kombu takes as failover alternates.
    """

    def __init__(self, base_dir: Path, size: int = 3, node_name: str = "gongwen",
                 amqp_ports: list[int] | None = None, mgmt_ports: list[int] | None = None):
        if size < 1:
            raise ValueError("a cluster has at least one node")
        self.base_dir = Path(base_dir).resolve()
        self.epmd_port = free_port()
        self._as = service_user("rabbitmq")
        self._epmd: subprocess.Popen | None = None
        cookie_file = self.base_dir / "cookie"
        if not cookie_file.exists():  # kept across restarts: the nodes' Mnesia knows its peers
            self.base_dir.mkdir(parents=True, exist_ok=True)
            cookie_file.write_text(secrets.token_hex(20))
            cookie_file.chmod(0o600)
        cookie = cookie_file.read_text()
        self.nodes = [
            RabbitNode(self.base_dir / f"node{i}", node_name=f"{node_name}-{i}",
                       amqp_port=(amqp_ports or [None] * size)[i - 1],
                       mgmt_port=(mgmt_ports or [None] * size)[i - 1],
                       epmd_port=self.epmd_port, cookie=cookie, quorum_cluster_size=size)
            for i in range(1, size + 1)
        ]

    @property
    def mgmt_url(self) -> str:
        return self.running()[0].mgmt_url

    def amqp_uri(self, vhost: str = "/") -> str:
        return ";".join(node.amqp_uri(vhost) for node in self.nodes)

    def running(self) -> list[RabbitNode]:
        return [node for node in self.nodes if node.is_running()]

    def start(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        # A crashed run may have left the shared epmd behind.
        _terminate(_process_tree(set(_epmds_in(self.base_dir))), grace=0)
        prepare_dir(self.base_dir, self._as)
        self._epmd = start_epmd(self.base_dir, self.epmd_port, self._as, deadline)
        try:
            # Together: a node restarted from an earlier cluster waits for its peers to boot.
            failures = []

            def boot(node):
                try:
                    node.start(timeout=max(1.0, deadline - time.monotonic()))
                except BaseException as exc:  # reported below, after every boot has ended
                    failures.append(exc)

            threads = [threading.Thread(target=boot, args=(node,)) for node in self.nodes]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if failures:
                raise failures[0]
            first = self.nodes[0]
            for node in self.nodes[1:]:
                self._join(node, first, deadline)
        except BaseException:
            self.stop(timeout=0)
            raise

    def _join(self, node: RabbitNode, first: RabbitNode, deadline: float) -> None:
        status = node._ctl("cluster_status", "--formatter", "json", timeout=60)
        if first.node in json.loads(status.stdout).get("running_nodes", []):
            return  # clustered in an earlier run
        node._ctl("stop_app", timeout=60)
        node._ctl("join_cluster", first.node, timeout=120)
        node._ctl("start_app", timeout=max(10.0, deadline - time.monotonic()))
        node._await_startup(deadline)

    def stop(self, timeout: float = 60) -> None:
        # Together, as start() boots them: which node goes down last does not matter then.
        threads = [threading.Thread(target=node.stop, kwargs={"timeout": timeout}) for node in self.nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self._stop_epmd()

    def crash(self) -> None:
        """``kill -9`` of every node, and the shared epmd goes: for a cluster thrown away with its
        directory, which a clean stop (several seconds a node) would only delay."""
        for node in self.nodes:
            node.crash()
        self._stop_epmd()

    def _stop_epmd(self) -> None:
        if self._epmd is not None:
            _terminate(_process_tree({self._epmd.pid}), grace=0)
            self._epmd.wait()
            self._epmd = None

    def connected_node(self, vhost: str) -> RabbitNode | None:
        """The node holding most client connections to ``vhost`` (the one the services use)."""
        counts = {}
        for node in self.running():
            try:
                connections = node._get("/api/connections?columns=node,vhost")
            except (OSError, urllib.error.URLError):
                continue
            for c in connections:
                if c.get("vhost") == vhost:
                    counts[c["node"]] = counts.get(c["node"], 0) + 1
            break
        busiest = max(counts, key=counts.get, default=None)
        return next((n for n in self.nodes if n.node == busiest), None)

    def add_vhost(self, name: str) -> None:
        self.running()[0].add_vhost(name)

    def delete_vhost(self, name: str) -> None:
        self.running()[0].delete_vhost(name)

    def __enter__(self) -> "RabbitCluster":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _epmds_in(cwd: Path) -> list[int]:
    found = []
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and (d / "comm").read_text() == "epmd\n" and os.readlink(d / "cwd") == str(cwd):
                found.append(int(d.name))
        except OSError:
            pass
    return found


def start_epmd(cwd: Path, port: int, as_user: dict, deadline: float) -> subprocess.Popen:
    """A private epmd on loopback ``port``, listening when this returns (a node that found none
    would spawn a daemon of its own, out of our reach)."""
    with open(cwd / "epmd.out", "ab") as out:
        epmd = subprocess.Popen(
            [EPMD, "-port", str(port), "-address", "127.0.0.1"],
            cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True, **as_user,
        )
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return epmd
        except OSError:
            if epmd.poll() is not None or time.monotonic() > deadline:
                _terminate(_process_tree({epmd.pid}), grace=0)
                epmd.wait()
                raise RuntimeError(f"epmd did not start on port {port}") from None
            time.sleep(0.05)


def _process_tree(roots: set[int]) -> set[tuple[int, int]]:
    """(pid, start time) of `roots` and all their descendants.

    Not a process group: erl_child_setup and inet_gethost call setsid(), so
    killpg() on the server's group would miss them.
    """
    parent, start = {}, {}
    for d in Path("/proc").iterdir():
        stat = _stat(d.name) if d.name.isdigit() else None
        if stat:
            parent[int(d.name)], start[int(d.name)] = int(stat[1]), int(stat[19])
    tree, frontier = set(), set(roots)
    while frontier:
        tree |= frontier
        frontier = {p for p, pp in parent.items() if pp in frontier} - tree
    return {(p, start[p]) for p in tree if p in start}


def _stat(pid: str) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state, ppid, ...)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()


def _alive(proc: tuple[int, int]) -> bool:
    stat = _stat(str(proc[0]))
    # A recycled pid has another start time; a zombie is dead, just not yet
    # reaped by init.
    return bool(stat) and int(stat[19]) == proc[1] and stat[0] != "Z"


def _terminate(procs: set[tuple[int, int]], grace: float) -> None:
    """Wait up to `grace` for `procs` to exit on their own, then TERM, then KILL them."""
    for sig, wait in ((None, grace), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        end = time.monotonic() + wait
        alive = [p for p in procs if _alive(p)]
        for pid, _ in alive if sig else ():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        while alive and time.monotonic() < end:
            time.sleep(0.1)
            alive = [p for p in alive if _alive(p)]
        if not alive:
            return
