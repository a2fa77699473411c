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
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

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


@dataclass
class ServiceProcess:
    name: str
    index: int
    command: list
    env: dict
    log_path: Path
    process: subprocess.Popen | None = None
    terminating: bool = False

    def start(self):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.terminating = False
            self.process = subprocess.Popen(self.command, env=self.env, cwd=ROOT, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def alive(self):
        return self.process is not None and self.process.poll() is None

    def terminate(self):
        """SIGTERM lets nameko finish its running workers before it exits.

        Only once: nameko answers each SIGTERM with another concurrent runner stop, and two
        of those deadlock.
        """
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
        if self.alive:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@dataclass
class Stack:
    amqp_uri: str
    database_urls: dict            # service name -> DATABASE_URL
    gateway_port: int
    log_dir: Path
    scale: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    processes: list = field(default_factory=list)

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
        command = [sys.executable, "-m", "nameko", "run", "--config", str(ROOT / folder / "config.yaml"),
                   f"{package}.service:{cls}"]
        return ServiceProcess(name, index, command, env, self.log_dir / f"{name}-{index}.log")

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

    def of(self, name):
        return [p for p in self.processes if p.name == name and p.alive]

    def stop_service(self, name, kill=False):
        self._stop(self.of(name), kill)

    @staticmethod
    def _stop(processes, kill=False, timeout=15):
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

    def stop(self):
        self._stop(self.processes)
        self.processes.clear()
