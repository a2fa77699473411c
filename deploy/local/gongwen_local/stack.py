"""Run the suite as processes on loopback: each service its own ``nameko run``, N instances each.

Used by ``make run`` (``python -m gongwen_local run``) and by the tests, which start, stop,
kill and scale services through the same code.
"""
import importlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from gongwen_common.probe import DEFAULT_MAX_AGE, file_age, heartbeat_path

from .ports import free_port

log = logging.getLogger(__name__)
supervision_log = logging.getLogger("gongwen_local.supervisor")

ROOT = Path(__file__).resolve().parents[3]

# service name -> (python package, source folder, service class)
SERVICES = {
    "registry": ("gongwen_registry", "services/registry", "RegistryService"),
    "identity": ("gongwen_identity", "services/identity", "IdentityService"),
    "seal": ("gongwen_seal", "services/seal", "SealService"),
    "exchange": ("gongwen_exchange", "services/exchange", "ExchangeService"),
    "notify": ("gongwen_notify", "services/notify", "NotifyService"),
    "archive": ("gongwen_archive", "services/archive", "ArchiveService"),
}
GATEWAY = ("gongwen_gateway", "gateway", "GatewayService")


def service_class(name):
    package, _, cls = SERVICES[name]
    return getattr(importlib.import_module(f"{package}.service"), cls)


@dataclass(frozen=True)
class RestartPolicy:
    """systemd's ``Restart=on-failure``: a process that fails (exits non-zero or is killed by a
    signal) unless an operator stopped it is started again after ``initial`` seconds, doubling to
    ``maximum`` while it keeps failing, back to ``initial`` once it has run ``stable_after`` seconds;
    after ``burst`` restarts within ``interval`` seconds (``StartLimitBurst``/``StartLimitIntervalSec``)
    it is left down and reported. A clean exit (0) is left stopped, as on-failure does."""
    initial: float = 1.0
    maximum: float = 30.0
    stable_after: float = 60.0
    burst: int = 10
    interval: float = 300.0
    # A process whose heartbeat is older than this (and that has run this long) is hung: killed,
    # then restarted as a failure. Kubernetes' liveness probe reads the same file (``probe --live``).
    hung_after: float = DEFAULT_MAX_AGE

    def delay(self, failures: int) -> float:
        return min(self.maximum, self.initial * 2 ** max(0, failures - 1))


@dataclass
class ServiceProcess:
    name: str
    index: int
    command: list
    env: dict
    log_path: Path
    process: subprocess.Popen | None = None
    terminating: bool = False
    metrics_port: int = 0  # its /metrics (restarts keep it)
    wanted: bool = True              # False once an operator stopped it: never restarted
    started_at: float = 0.0
    failures: int = 0                # exits since it last ran stably
    restarts: list = field(default_factory=list)  # monotonic times of its restarts
    restart_at: float | None = None  # when the supervisor starts it again
    failed: bool = False             # start limit hit: left down
    heartbeat: Path | None = None    # the file its event loop touches (``gongwen_common.health.Heartbeat``)

    def start(self):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.terminating, self.wanted, self.restart_at = False, True, None
            self.started_at = time.monotonic()
            self.process = subprocess.Popen(self.command, env=self.env, cwd=ROOT, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def _kill_if_hung(self, policy: RestartPolicy, now: float) -> dict | None:
        """Running yet not beating: its event loop is wedged (a deadlock, a blocking call, SIGSTOP).
        Killed here; the next pass finds it dead and restarts it as any failure."""
        if self.heartbeat is None or now - self.started_at < policy.hung_after:
            return None
        age = file_age(self.heartbeat)
        if age is not None and age <= policy.hung_after:
            return None
        pid = self.process.pid
        os.killpg(pid, signal.SIGKILL)
        self.process.wait()
        return {"event": "service_hung", "service": self.name, "instance": self.index, "pid": pid,
                "heartbeat_age_seconds": None if age is None else round(age, 1),
                "hung_after_seconds": policy.hung_after, "log": str(self.log_path)}

    @property
    def alive(self):
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self):
        return self.process and self.process.pid

    def terminate(self):
        """SIGTERM lets nameko finish its running workers before it exits (within its
        ``SHUTDOWN_TIMEOUT``, see ``gongwen_common.shutdown``).

        Only once: nameko answers each SIGTERM with another concurrent runner stop, and two
        of those deadlock.
        """
        self.wanted = False
        if self.alive and not self.terminating:
            self.terminating = True
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout=15):
        self.terminate()
        if self.process is None:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s-%d did not stop in time; killing it (see %s)", self.name, self.index,
                        self.log_path)
            self.kill()

    def kill(self):
        self.wanted = False
        if self.alive:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def supervise(self, policy: RestartPolicy, now: float) -> dict | None:
        """One look at the process: schedule or make a restart after an unexpected exit; what
        happened, as a structured record (``None``: nothing)."""
        if not self.wanted or self.failed or self.process is None:
            return None
        if self.alive:
            return self._kill_if_hung(policy, now)
        if self.restart_at is None:  # it has just been found dead
            ran = now - self.started_at
            if self.process.returncode == 0:  # a clean exit (SIGTERM from outside): on-failure leaves it
                self.wanted = False
                return {"event": "service_stopped", "service": self.name, "instance": self.index,
                        "pid": self.process.pid, "exit_code": 0, "ran_seconds": round(ran, 2)}
            self.failures = 1 if ran >= policy.stable_after else self.failures + 1
            self.restarts = [t for t in self.restarts if now - t < policy.interval]
            record = {"service": self.name, "instance": self.index, "pid": self.process.pid,
                      "exit_code": self.process.returncode, "ran_seconds": round(ran, 2),
                      "restarts_in_interval": len(self.restarts), "log": str(self.log_path)}
            if len(self.restarts) >= policy.burst:
                self.failed = True
                return {"event": "service_failed", **record,
                        "reason": f"start limit: {policy.burst} restarts within {policy.interval:g}s"}
            delay = policy.delay(self.failures)
            self.restart_at = now + delay
            return {"event": "service_exited", **record, "restart_in_seconds": delay}
        if now < self.restart_at:
            return None
        self.restarts.append(now)
        self.start()
        return {"event": "service_restarted", "service": self.name, "instance": self.index,
                "pid": self.process.pid, "restarts_in_interval": len(self.restarts)}


@dataclass
class Stack:
    amqp_uri: str
    database_urls: dict            # service name -> DATABASE_URL
    gateway_port: int
    log_dir: Path
    scale: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    processes: list = field(default_factory=list)
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    # the supervisor's restarts and an operator's stops never interleave
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def gateway_url(self):
        return f"http://127.0.0.1:{self.gateway_port}"

    def prepare(self):
        """Migrate every service database and declare every queue before anything runs."""
        from gongwen_common import migrate, topology

        for name, (package, _, _) in SERVICES.items():
            migrate.upgrade(package, self.database_urls[name])
        topology.declare_all(self.amqp_uri, [service_class(name) for name in SERVICES])

    def _process(self, name, index, extra_env):
        package, folder, cls = GATEWAY if name == "gateway" else SERVICES[name]
        env = {**os.environ, **self.env, **extra_env, "AMQP_URI": self.amqp_uri,
               "GATEWAY_ADDRESS": f"127.0.0.1:{self.gateway_port}", "PYTHONUNBUFFERED": "1"}
        if name in self.database_urls:
            env["DATABASE_URL"] = self.database_urls[name]
        # Twilio's status callbacks come to this gateway, unless a public address is set (real Twilio)
        env.setdefault("TWILIO_CALLBACK_BASE_URL", self.gateway_url)
        # the texts' short links lead to this gateway's redirect (GET /l/<code>), unless a public base is set
        env.setdefault("NOTIFY_LINK_BASE_URL", f"{self.gateway_url}/l/")
        env["METRICS_PORT"] = str(free_port())
        # each process its own heartbeat file, which the supervisor reads (several instances, several stacks)
        env["GONGWEN_HEARTBEAT_DIR"] = str(self.log_dir / "heartbeat" / f"{name}-{index}")
        command = [sys.executable, "-m", "nameko", "run", "--config", str(ROOT / folder / "config.yaml"),
                   f"{package}.service:{cls}"]
        return ServiceProcess(name, index, command, env, self.log_dir / f"{name}-{index}.log",
                              metrics_port=int(env["METRICS_PORT"]),
                              heartbeat=heartbeat_path(name, env["GONGWEN_HEARTBEAT_DIR"]))

    def start_service(self, name, instances=None, env=None):
        instances = instances or self.scale.get(name, 1)
        started = []
        for _ in range(instances):
            index = sum(1 for p in self.processes if p.name == name)
            proc = self._process(name, index, env or {})
            proc.start()
            self.processes.append(proc)
            started.append(proc)
        return started

    def write_scrape_targets(self, path: Path) -> None:
        """Every process's metrics address as Prometheus ``file_sd_configs`` reads them."""
        path.write_text(json.dumps([{"targets": [f"127.0.0.1:{p.metrics_port}"],
                                     "labels": {"job": "gongwen", "app": p.name, "gongwen_instance": str(p.index)}}
                                    for p in self.processes], indent=1))

    def of(self, name):
        return [p for p in self.processes if p.name == name and p.alive]

    def stop_service(self, name, kill=False):
        """An operator's stop: also of instances waiting to be restarted, so none comes back."""
        self._stop([p for p in self.processes if p.name == name and (p.alive or p.wanted)], kill)

    def _stop(self, processes, kill=False, timeout=None):
        from gongwen_common.shutdown import shutdown_timeout

        # past the processes' own bound (SHUTDOWN_TIMEOUT), they are killed from here
        timeout = timeout or shutdown_timeout(self.env) + 5
        with self.lock:
            for proc in processes:
                proc.kill() if kill else proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in processes:
            proc.stop(timeout=max(0.1, deadline - time.monotonic()))

    def start(self, wait=True, timeout=90):
        self.prepare()
        for name in [*SERVICES, "gateway"]:
            self.start_service(name)
        if wait:
            self.wait_healthy(timeout)
        return self

    def health(self):
        try:
            with urllib.request.urlopen(f"{self.gateway_url}/api/v1/health", timeout=10) as reply:
                return reply.status, json.load(reply)
        except urllib.error.HTTPError as err:
            return err.code, json.load(err)

    def wait_healthy(self, timeout=90):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            dead = [p for p in self.processes if p.process and p.process.poll() is not None
                    and p.process.returncode not in (0, -signal.SIGTERM, -signal.SIGKILL)]
            if dead:
                raise RuntimeError(f"{dead[0].name} exited; see {dead[0].log_path}")
            try:
                status, last = self.health()
                if status == 200:
                    return last
            except OSError as exc:
                last = exc
            time.sleep(0.3)
        raise TimeoutError(f"the stack did not become healthy in {timeout}s: {last}")

    def supervise(self, now=None) -> list[dict]:
        """One supervision pass over every process (``make run`` and :class:`Supervisor` call it
        in a loop); each exit, restart and give-up is logged as one JSON line and returned."""
        now = time.monotonic() if now is None else now
        with self.lock:
            records = [r for p in list(self.processes) if (r := p.supervise(self.restart_policy, now))]
        for record in records:
            record["ts"] = datetime.now(UTC).isoformat(timespec="milliseconds")
            (supervision_log.error if record["event"] == "service_failed" else supervision_log.warning)(
                json.dumps(record, ensure_ascii=False))
        return records

    def failed(self):
        """Processes the supervisor gave up on (start limit hit)."""
        return [p for p in self.processes if p.failed]

    def stop(self):
        self._stop(self.processes)
        self.processes.clear()


class Supervisor:
    """Runs :meth:`Stack.supervise` every ``interval`` seconds in a thread, for the tests; ``make
    run`` calls it from its own loop. ``with Supervisor(stack) as supervisor: …``"""

    def __init__(self, stack: Stack, interval: float = 0.2):
        self.stack, self.interval = stack, interval
        self.records: list[dict] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gongwen-supervisor", daemon=True)

    def _run(self):
        while not self._stopped.wait(self.interval):
            self.records.extend(self.stack.supervise())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stopped.set()
        self._thread.join(10)
