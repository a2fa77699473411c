"""Demo accounts for ``make run``: an operator, a demo unit and its clerk, each with a U_Key
key file under ``var/demo/``. Made once; later runs print the same accounts again.

Not for production: the passwords are written to ``var/demo/accounts.json`` for a developer to
read, and the device keys are plain PEM files instead of hardware tokens.
"""
import json
import os
import secrets
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

DEMO_UNIT = {"code": "demo-office", "name": "示范区人民政府办公室", "kind": "district"}


def _key_file(path: Path) -> str:
    """Write a new device key pair (private PEM, mode 0600) and return the public PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    os.chmod(path, 0o600)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _password():
    return f"Gw-{secrets.token_urlsafe(9)}-1!"


def ensure_demo_accounts(amqp_uri: str, var: Path) -> dict:
    from nameko.standalone.rpc import ClusterRpcProxy

    from gongwen_common.errors import DomainError

    folder = var / "demo"
    accounts_file = folder / "accounts.json"
    if accounts_file.exists():
        return json.loads(accounts_file.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    operator = {"username": "demo-operator", "password": _password(), "key_file": str(folder / "operator.key.pem")}
    clerk = {"username": "demo-clerk", "password": _password(), "key_file": str(folder / "clerk.key.pem"),
             "unit_code": DEMO_UNIT["code"]}
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=30) as suite:
        made = suite.identity.bootstrap_operator(operator["username"], operator["password"],
                                                 _key_file(Path(operator["key_file"])), name="示范运维员")
        actor = {"user_id": made["user_id"], "roles": ["operator"]}  # the registry checks who registers
        suite.registry.register_unit(DEMO_UNIT, active=True, actor=actor, idempotency_key="demo-unit")
        new_clerk = {"username": clerk["username"], "name": "示范文书", "unit_code": DEMO_UNIT["code"],
                     "roles": ["clerk"], "mobile": "13800138000", "initial_password": clerk["password"],
                     "device_public_key": _key_file(Path(clerk["key_file"]))}
        deadline = time.monotonic() + 30
        while True:  # identity learns of the new unit from registry's event
            try:
                suite.identity.create_user(new_clerk, actor, idempotency_key="demo-clerk")
                break
            except DomainError as refused:
                if refused.code != "UNKNOWN_UNIT" or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    accounts = {"operator": operator, "clerk": clerk}
    accounts_file.write_text(json.dumps(accounts, ensure_ascii=False, indent=2))
    os.chmod(accounts_file, 0o600)
    return accounts
