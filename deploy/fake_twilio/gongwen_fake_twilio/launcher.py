"""Start the fake Twilio as a process of its own (``make run``, the test stacks, the benchmarks)
and talk to its control endpoints."""
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


class FakeTwilioProcess:
    def __init__(self, log_path: Path, port: int = 0, rate: float | None = None, account_sid=None, auth_token=None):
        self.log_path = Path(log_path)
        self.port, self.rate = port, rate
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token or secrets.token_hex(16)
        self.sender = "+15005550006"  # Twilio's magic "valid From" test number
        self.process = None
        self.url = None

    def start(self, timeout=15.0):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "gongwen_fake_twilio", "--port", str(self.port),
                   "--account-sid", self.account_sid, "--auth-token", self.auth_token]
        if self.rate:
            command += ["--rate", str(self.rate)]
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, start_new_session=True,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        line = self.process.stdout.readline().decode()
        if not line.startswith("listening on ") or time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(f"the fake Twilio did not start: {line!r}; see {self.log_path}")
        self.url = line.split()[-1]
        return self

    @property
    def env(self) -> dict:
        """What notify and the gateway are given to use this server (nothing else differs from Twilio)."""
        return {"TWILIO_ACCOUNT_SID": self.account_sid, "TWILIO_AUTH_TOKEN": self.auth_token,
                "TWILIO_FROM": self.sender, "TWILIO_API_BASE_URL": self.url}

    @property
    def phones_url(self):
        return f"{self.url}/phones"

    def control(self, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method="GET" if data is None else "POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as reply:
            return json.load(reply)

    def record(self) -> dict:
        return self.control("/_control/record")

    def faults(self, **changes) -> dict:
        return self.control("/_control/faults", changes)

    def reset(self) -> dict:
        return self.control("/_control/reset", {})

    def release_callbacks(self, order="forward") -> int:
        return self.control("/_control/callbacks/release", {"order": order})["released"]

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
