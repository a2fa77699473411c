"""Talking to the gateway, and the access token kept per profile between commands."""
import base64
import json
import os
import urllib.error
import urllib.request
from pathlib import Path


class GatewayError(Exception):
    def __init__(self, status, body):
        self.status, self.body = status, body
        super().__init__(f"{status} {body.get('error', '')}: {body.get('message', '')}")


def config_dir() -> Path:
    return Path(os.environ.get("GONGWEN_HOME") or Path.home() / ".config" / "gongwen")


class Profiles:
    """``profiles.json`` (mode 0600): gateway URL, user name and access token per profile."""

    def __init__(self, folder: Path | None = None):
        self.path = (folder or config_dir()) / "profiles.json"

    def load(self) -> dict:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def save(self, name: str, profile: dict) -> None:
        profiles = self.load()
        profiles[name] = profile
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch(mode=0o600, exist_ok=True)
        self.path.write_text(json.dumps(profiles, indent=2))

    def get(self, name: str) -> dict:
        profile = self.load().get(name)
        if not profile:
            raise GatewayError(401, {"error": "UNAUTHENTICATED", "message": f"not logged in (profile {name}); "
                                                                            "run gongwen login"})
        return profile


class Gateway:
    def __init__(self, url: str, token: str | None = None):
        self.url, self.token = url.rstrip("/"), token

    def request(self, method: str, path: str, body: dict | None = None) -> dict | None:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                raw = reply.read()
                return json.loads(raw) if raw else None
        except urllib.error.HTTPError as failure:
            raise GatewayError(failure.code, json.loads(failure.read() or b"{}")) from None

    def login(self, username: str, password: str, signer) -> dict:
        """Challenge, U_Key signature over the nonce, then password + signature (API.md)."""
        challenge = self.request("POST", "/api/v1/auth/challenge", {"username": username})
        signature = signer.sign(base64.b64decode(challenge["nonce"]))
        return self.request("POST", "/api/v1/auth/login", {
            "username": username, "password": password, "challenge_id": challenge["challenge_id"],
            "signature": base64.b64encode(signature).decode()})
