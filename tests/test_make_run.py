"""`make run`'s own command: the suite on the embedded SQLite default answers health 200,
and SIGTERM (as Ctrl-C) stops everything it started."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from conftest import Api, logged_in, login, wait_until
from gongwen_local.ports import free_port


@pytest.mark.slow
def test_run_starts_on_sqlite_answers_health_and_stops_cleanly(test_var):
    var = test_var / "make-run"
    gateway_port = free_port()
    log = open(test_var / "make-run.log", "w+")
    runner = subprocess.Popen(
        [sys.executable, "-m", "gongwen_local", "run", "--var", str(var), "--gateway-port", str(gateway_port),
         "--amqp-port", str(free_port()), "--management-port", str(free_port())],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "Gongwen is running." in (test_var / "make-run.log").read_text() or runner.poll(),
                   timeout=120, message="the suite to start")
        output = (test_var / "make-run.log").read_text()
        assert f"http://127.0.0.1:{gateway_port}/api/v1/health" in output and "/api/v1/docs" in output
        api = Api(f"http://127.0.0.1:{gateway_port}")
        health = api.get("/api/v1/health")
        assert health.status_code == 200 and len(health.json()["services"]) == 6
        accounts = json.loads((var / "demo" / "accounts.json").read_text())
        operator = accounts["operator"]
        assert f"demo operator  {operator['username']} / {operator['password']}" in output
        key = serialization.load_pem_private_key(Path(operator["key_file"]).read_bytes(), None)
        logged_in(api, operator["username"], operator["password"], key)
        for clerk in accounts["clerks"]:  # the demo's clerks are past the first-login password change
            key = serialization.load_pem_private_key(Path(clerk["key_file"]).read_bytes(), None)
            assert login(api, clerk["username"], clerk["password"], key).json()["must_change_password"] is False
        unit = {"code": "demo-run", "name": "示范单位", "kind": "department"}
        assert api.post("/api/v1/units", json=unit).status_code == 201
        assert sorted(p.name for p in (var / "db").glob("*.sqlite3")) == sorted(
            f"{s}.sqlite3" for s in ("registry", "identity", "seal", "exchange", "notify", "archive"))
        started = _children(runner.pid)  # the services, the gateway and RabbitMQ's wrapper
        assert len(started) >= 8
    finally:
        runner.terminate()
        assert runner.wait(90) == 0
    wait_until(lambda: not any(_running(pid) for pid in started), timeout=10,
               message="every process make run started to be gone")
    assert subprocess.run(["pgrep", "-f", str(var)], capture_output=True).stdout == b""  # no RabbitMQ node


def _children(pid):
    return [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]


def _running(pid):
    """Alive and not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
