"""Talking to the gateway, and the access token kept per profile between commands.

JSON calls, downloads of bytes, and uploads as multipart/form-data streamed from the files (a
document's body and attachments may be large, so they are never read into memory whole).
"""
import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from email.message import Message
from pathlib import Path

CHUNK = 64 * 1024


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
        if not profile or not profile.get("access_token"):
            raise GatewayError(401, {"error": "UNAUTHENTICATED", "message": f"not logged in (profile {name}); "
                                                                            "run gongwen login"})
        return profile


class Multipart:
    """A multipart/form-data body (RFC 7578): text fields, then files, streamed in chunks.

    The length is known beforehand (from the files' sizes), so the request carries a
    ``Content-Length`` instead of chunked transfer encoding, and a progress bar has its total.
    """

    def __init__(self, fields: dict[str, str], files: list[tuple[str, Path]]):
        self.boundary = f"gongwen-{uuid.uuid4().hex}"
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        self._parts: list[tuple[bytes, bytes | Path, int]] = []
        for name, value in fields.items():
            data = value.encode()
            self._parts.append((self._head(name), data, len(data)))
        for name, path in files:
            self._parts.append((self._head(name, path.name), path, path.stat().st_size))
        self._closing = f"--{self.boundary}--\r\n".encode()
        self.length = sum(len(head) + size + 2 for head, _, size in self._parts) + len(self._closing)

    def _head(self, name: str, filename: str | None = None) -> bytes:
        disposition = f'form-data; name="{_quoted(name)}"'
        if filename is not None:
            disposition += f'; filename="{_quoted(filename)}"'
            # Servers that read RFC 5987/8187 take the exact name from filename*; the quoted UTF-8
            # one is what browsers send, for those that do not.
            if not filename.isascii() or any(c in filename for c in '"\\\r\n'):
                disposition += f"; filename*=UTF-8''{urllib.parse.quote(filename, safe='')}"
        head = f"--{self.boundary}\r\nContent-Disposition: {disposition}\r\n"
        if filename is not None:
            head += "Content-Type: application/octet-stream\r\n"
        return (head + "\r\n").encode()

    def chunks(self, progress: Callable[[int, int], None] | None = None) -> Iterator[bytes]:
        """The body's bytes; ``progress(sent, total)`` each time a chunk has been written."""
        sent = 0
        for piece in self._pieces():
            yield piece
            sent += len(piece)  # the sender asks for the next piece once this one is written
            if progress:
                progress(sent, self.length)

    def _pieces(self) -> Iterator[bytes]:
        for head, data, size in self._parts:
            yield head
            if isinstance(data, bytes):
                yield data
            else:
                read = 0
                with data.open("rb") as file:
                    while read < size and (chunk := file.read(min(CHUNK, size - read))):
                        read += len(chunk)
                        yield chunk
                    if read != size or file.read(1):  # the Content-Length already sent would be a lie
                        raise OSError(f"{data} changed while it was being sent")
            yield b"\r\n"
        yield self._closing


def _quoted(value: str) -> str:
    """A name inside a quoted-string as HTML forms encode it: quotes and line breaks escaped."""
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _refusal(failure: urllib.error.HTTPError) -> GatewayError:
    """The gateway answers errors as JSON; anything else (a proxy's HTML page) still becomes a refusal."""
    raw = failure.read() or b"{}"
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {"error": f"HTTP_{failure.code}", "message": raw[:200].decode(errors="replace")}
    return GatewayError(failure.code, body)


class Gateway:
    def __init__(self, url: str, token: str | None = None):
        self.url, self.token = url.rstrip("/"), token

    def _open(self, method: str, path: str, data=None, headers: dict | None = None,
              timeout: float = 30) -> tuple[bytes, Message]:
        headers = dict(headers or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return reply.read(), reply.headers
        except urllib.error.HTTPError as failure:
            raise _refusal(failure) from None
        except urllib.error.URLError as failure:
            # Said as a refusal so commands end with a message, not a traceback.
            raise GatewayError(0, {"error": "UNREACHABLE", "message": f"{self.url}: {failure.reason}"}) from None
        except TimeoutError:
            raise GatewayError(0, {"error": "TIMEOUT", "message": f"{self.url} did not answer in {timeout}s"}) from None

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None) -> dict | None:
        data = json.dumps(body).encode() if body is not None else None
        raw, _ = self._open(method, path, data, {"Content-Type": "application/json", **(headers or {})})
        return json.loads(raw) if raw else None

    def download(self, path: str) -> tuple[bytes, Message]:
        """The bytes of a GET and the reply's headers (e.g. ``Content-Disposition``)."""
        return self._open("GET", path)

    def upload(self, path: str, fields: dict[str, str], files: list[tuple[str, Path]], headers: dict | None = None,
               progress: Callable[[int, int], None] | None = None) -> dict | None:
        """POST ``fields`` and ``files`` (``(part name, path)``, sent under the file's own name) as
        multipart/form-data; ``progress(sent, total)`` follows the bytes written."""
        body = Multipart(fields, files)
        headers = {**(headers or {}), "Content-Type": body.content_type, "Content-Length": str(body.length)}
        # Sending a document waits for the seal and the exchange (up to a minute), not only the network.
        raw, _ = self._open("POST", path, body.chunks(progress), headers, timeout=120)
        return json.loads(raw) if raw else None

    def login(self, username: str, password: str, signer) -> dict:
        """Challenge, U_Key signature over the nonce, then password + signature (API.md)."""
        challenge = self.request("POST", "/api/v1/auth/challenge", {"username": username})
        signature = signer.sign(base64.b64decode(challenge["nonce"]))
        return self.request("POST", "/api/v1/auth/login", {
            "username": username, "password": password, "challenge_id": challenge["challenge_id"],
            "signature": base64.b64encode(signature).decode()})
