"""Key-encryption keys of a local installation: made once, kept in ``var/keks.json`` (mode 0600),
so a local database's private keys are encrypted under keys of its own (the services refuse to
work without a KEK; the fixed development key needs ``GONGWEN_DEVELOPMENT_KEYS=1``). An
operator's environment (``IDENTITY_KEK``, ``SEAL_KEK``, ``ARCHIVE_KEK``) wins."""
import base64
import json
import os
from pathlib import Path

SETTINGS = ("IDENTITY_KEK", "SEAL_KEK", "ARCHIVE_KEK")


def local_keks(var: Path) -> dict:
    path = Path(var) / "keks.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    missing = [name for name in SETTINGS if name not in stored]
    if missing:
        stored.update({name: base64.b64encode(os.urandom(32)).decode() for name in missing})
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump(stored, out)
    return {name: os.environ.get(name) or stored[name] for name in SETTINGS}
