"""The demo ``make run`` sets up, so the README's "first document" runs as written: an operator,
two units (``demo-a`` sends, ``demo-b`` receives) with a clerk each, already past the first-login
password change, and an active seal for ``demo-a`` kept by its clerk.

Made once and idempotently: what to make (user names, passwords, U_Key files) is written to
``var/demo/accounts.json`` before anything is made, each step is skipped when done or repeated
safely (``Idempotency-Key``), and only a complete demo is marked ``ready``; a run interrupted
half-way finishes the rest next time. Everything but the first operator goes through the gateway,
as a person would.

Not for production: the passwords are written under ``var/demo/`` (``<user>.password``, mode 0600)
for a developer to read, and the U_Keys are plain PEM files instead of hardware tokens.
"""
import json
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

UNITS = ({"code": "demo-a", "name": "示范市人民政府办公室", "kind": "government"},
         {"code": "demo-b", "name": "示范市教育局", "kind": "department"})
CLERK_NAMES = {"demo-a": "示范文书甲", "demo-b": "示范文书乙"}


def _private_file(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)


def _key_file(path: Path) -> None:
    """A new U_Key stand-in: an EC P-256 private key, PEM, mode 0600 (kept if it exists)."""
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        _private_file(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))


def _public_pem(path: Path) -> str:
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _password() -> str:
    return f"Gw-{secrets.token_urlsafe(9)}-1!"


def _plan(state: dict, folder: Path) -> dict:
    """``state`` with whatever is missing chosen now (names, passwords, key files), nothing made yet.
    An accounts file of an earlier version keeps its operator."""
    operator = state.get("operator") or {"username": "demo-operator", "password": _password(),
                                         "key_file": str(folder / "operator.key.pem")}
    clerks = {clerk["unit_code"]: clerk for clerk in state.get("clerks", [])}
    for unit in UNITS:
        username = f"{unit['code']}-clerk"
        clerks.setdefault(unit["code"], {
            "username": username, "unit_code": unit["code"], "unit_name": unit["name"],
            "initial_password": _password(), "password": _password(),
            "key_file": str(folder / f"{username}.key.pem"), "password_file": str(folder / f"{username}.password")})
    operator.setdefault("password_file", str(folder / f"{operator['username']}.password"))
    for account in (operator, *clerks.values()):
        _key_file(Path(account["key_file"]))
        _private_file(Path(account["password_file"]), (account["password"] + "\n").encode())
    return {"operator": operator, "clerks": [clerks[unit["code"]] for unit in UNITS], "seal": state.get("seal", {}),
            "ready": False}


def _save(path: Path, state: dict) -> None:
    _private_file(path, json.dumps(state, ensure_ascii=False, indent=2).encode())


def ensure_demo(amqp_uri: str, gateway_url: str, var: Path) -> dict:
    """The demo's accounts, made now if an earlier run has not made them all."""
    folder = Path(var) / "demo"
    accounts_file = folder / "accounts.json"
    state = json.loads(accounts_file.read_text()) if accounts_file.exists() else {}
    if state.get("ready"):
        return state
    folder.mkdir(parents=True, exist_ok=True)
    state = _plan(state, folder)
    _save(accounts_file, state)
    _bootstrap(amqp_uri, state["operator"])
    _make(gateway_url, state, lambda: _save(accounts_file, state))
    state["ready"] = True
    _save(accounts_file, state)
    return state


def _bootstrap(amqp_uri: str, operator: dict) -> None:
    from nameko.standalone.rpc import ServiceRpcProxy

    from gongwen_common.errors import DomainError

    try:
        with ServiceRpcProxy("identity", {"AMQP_URI": amqp_uri}, timeout=30) as identity:
            identity.bootstrap_operator(operator["username"], operator["password"],
                                        _public_pem(Path(operator["key_file"])), name="示范运维员")
    except DomainError as refused:
        if refused.code != "ALREADY_BOOTSTRAPPED":
            raise
        # An earlier run made this operator (the login below proves it is ours); else the login fails.


def _make(gateway_url: str, state: dict, save) -> None:
    from gongwen_cli.common import catching_up
    from gongwen_cli.gateway import Gateway, GatewayError
    from gongwen_cli.u_key import KeyFileSigner

    def logged_in(account: dict, password: str) -> Gateway:
        token = Gateway(gateway_url).login(account["username"], password, KeyFileSigner(account["key_file"]))
        return Gateway(gateway_url, token["access_token"])

    operator = logged_in(state["operator"], state["operator"]["password"])
    for unit in UNITS:
        try:
            status = operator.request("GET", f"/api/v1/units/{unit['code']}")["status"]
        except GatewayError as refused:
            if refused.status != 404:
                raise
            status = operator.request("POST", "/api/v1/units", unit,
                                      {"Idempotency-Key": f"demo-unit-{unit['code']}"})["status"]
        if status == "applied":
            operator.request("POST", f"/api/v1/units/{unit['code']}/approve")

    for clerk in state["clerks"]:
        if not clerk.get("user_id"):
            new = {"username": clerk["username"], "name": CLERK_NAMES[clerk["unit_code"]],
                   "unit_code": clerk["unit_code"], "roles": ["clerk"], "mobile": "13800138000",
                   "initial_password": clerk["initial_password"],
                   "device_public_key": _public_pem(Path(clerk["key_file"]))}
            # identity learns of the units from the registry's events, a moment after the approval
            key = {"Idempotency-Key": f"demo-{clerk['username']}"}
            made = catching_up(lambda new=new, key=key: operator.request("POST", "/api/v1/users", new, key), 60)
            clerk["user_id"] = made["user_id"]
            save()
        if not clerk.get("password_changed"):
            first = logged_in(clerk, clerk["initial_password"])
            first.request("POST", "/api/v1/auth/password", {"old_password": clerk["initial_password"],
                                                            "new_password": clerk["password"]})
            clerk["password_changed"] = True
            save()

    sender = state["clerks"][0]
    seal = state["seal"]
    if not seal.get("serial"):
        application = {"unit_code": sender["unit_code"],
                       "custody": {"required_approvals": 1, "custodian_user_ids": [sender["user_id"]]}}
        seal.update(catching_up(lambda: operator.request("POST", "/api/v1/seals", application,
                                                         {"Idempotency-Key": "demo-seal-a"}), 60))
        seal = state["seal"] = {"serial": seal["serial"], "unit_code": sender["unit_code"]}
        save()
    if operator.request("GET", f"/api/v1/seals/{seal['serial']}")["status"] == "applied":
        operator.request("POST", f"/api/v1/seals/{seal['serial']}/approve")


def describe(state: dict) -> str:
    """The demo's lines of ``make run``'s banner."""
    operator = state["operator"]
    lines = [f"  demo operator  {operator['username']} / {operator['password']}   U_Key {operator['key_file']}"]
    for clerk in state["clerks"]:
        lines.append(f"  demo clerk     {clerk['username']} / {clerk['password']}   U_Key {clerk['key_file']}   "
                     f"unit {clerk['unit_code']} {clerk['unit_name']}")
    seal = state["seal"]
    lines.append(f"  demo seal      {seal['serial']} (active) of {seal['unit_code']}, kept by its clerk")
    lines.append(f"                 passwords also in {Path(operator['key_file']).parent}/<user>.password; "
                 "the README's first document starts here")
    return "\n".join(lines)
