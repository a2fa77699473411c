"""``gongwen`` commands. Everything but ``admin bootstrap`` talks to the gateway only.

``login`` signs the server's challenge with the U_Key from a key file or a PKCS#11 token and
keeps the access token per ``--profile`` (in ``$GONGWEN_HOME`` or ``~/.config/gongwen``).

``admin bootstrap`` runs on the operator's own host before any account exists, so it calls
the identity service directly over the broker (``AMQP_URI``), once.

``verify`` needs neither: it checks a sealed manifest against the CA certificate offline.

``send``, ``inbox``, ``fetch``, ``sign``, ``register`` and ``return`` are the document exchange
(发文 and 收文); their work is in ``documents``.
"""
import json
import os
import sys
import urllib.parse
from enum import Enum
from pathlib import Path

import typer

from . import documents, offline
from .gateway import Gateway, GatewayError, Profiles
from .u_key import KeyFileSigner, Pkcs11Signer

app = typer.Typer(help="Gongwen 公文: electronic official-document exchange.", no_args_is_help=True)
admin = typer.Typer(help="Operator tasks on the exchange centre's own host.", no_args_is_help=True)
units = typer.Typer(help="The unit directory and its lifecycle (使用单位).", no_args_is_help=True)
users = typer.Typer(help="Real-name accounts.", no_args_is_help=True)
app.add_typer(admin, name="admin")
app.add_typer(units, name="units")
app.add_typer(users, name="users")

PROFILE = typer.Option("default", help="whose kept token to use (see gongwen login)")

DEFAULT_AMQP_URI = "pyamqp://guest:guest@127.0.0.1:5673/"
DEFAULT_GATEWAY = os.environ.get("GONGWEN_GATEWAY", "http://127.0.0.1:8080")


def _fail(error: GatewayError):
    typer.echo(f"refused: {error.body.get('error', error.status)}: {error.body.get('message', '')}", err=True)
    raise typer.Exit(2)


@app.command()
def login(
    username: str = typer.Option(..., help="your user name"),
    password: str = typer.Option(..., prompt=True, hide_input=True, help="asked if not given"),
    key_file: Path = typer.Option(None, exists=True, dir_okay=False, help="U_Key as a PEM private key file"),
    pkcs11_module: str = typer.Option(None, help="PKCS#11 library of the U_Key, e.g. /usr/lib/softhsm/libsofthsm2.so"),
    token_label: str = typer.Option(None, help="PKCS#11 token label"),
    pin: str = typer.Option(None, help="PKCS#11 user PIN (asked if the token is used and none given)"),
    key_label: str = typer.Option(None, help="label of the device key in the token"),
    gateway: str = typer.Option(DEFAULT_GATEWAY, help="the gateway's URL"),
    profile: str = typer.Option("default", help="where to keep the token"),
):
    """Log in with password + U_Key; the access token is kept for the following commands."""
    if (key_file is None) == (pkcs11_module is None):
        raise typer.BadParameter("give exactly one of --key-file or --pkcs11-module")
    if key_file is not None:
        signer = KeyFileSigner(key_file)
    else:
        if not token_label:
            raise typer.BadParameter("--token-label is needed with --pkcs11-module")
        signer = Pkcs11Signer(pkcs11_module, token_label, pin or typer.prompt("PIN", hide_input=True), key_label)
    try:
        result = Gateway(gateway).login(username, password, signer)
    except GatewayError as refused:
        _fail(refused)
    Profiles().save(profile, {"gateway": gateway, "username": username, "access_token": result["access_token"]})
    typer.echo(f"logged in as {username}" + ("; change your initial password now" if result["must_change_password"]
                                              else ""))


def _gateway(profile: str) -> Gateway:
    """The gateway with the profile's kept token."""
    try:
        saved = Profiles().get(profile)
    except GatewayError as refused:
        _fail(refused)
    return Gateway(saved["gateway"], saved["access_token"])


def _echo_json(answer) -> None:
    typer.echo(json.dumps(answer, ensure_ascii=False, indent=2))


def _call(profile: str, method: str, path: str, body: dict | None = None, params: dict | None = None):
    """One gateway call with the profile's token; prints the answer as JSON (for people and scripts)."""
    query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v is not None})
    gateway = _gateway(profile)
    try:
        answer = gateway.request(method, path + (f"?{query}" if query else ""), body)
    except GatewayError as refused:
        _fail(refused)
    _echo_json(answer)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        typer.echo(f"cannot read {what} {path}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None


def _attachment_files(values: list[str]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for value in values:
        name, sep, file = value.partition("=")
        if not sep or not name or not file:
            raise typer.BadParameter(f"{value!r}: expected NAME=FILE", param_hint="--attachment")
        if name in files:
            raise typer.BadParameter(f"attachment {name!r} given twice", param_hint="--attachment")
        files[name] = Path(file)
    return files


@app.command()
def verify(
    manifest: Path = typer.Argument(..., metavar="MANIFEST", dir_okay=False,
                                    help="the manifest exactly as sealed (canonical JSON)"),
    signature: Path = typer.Argument(..., metavar="SIGNATURE", dir_okay=False,
                                     help="its detached CMS signature: DER, PEM or base64"),
    ca: Path = typer.Option(..., "--ca", dir_okay=False, help="the operator CA certificate(s), PEM"),
    body: Path = typer.Option(None, dir_okay=False, help="the document body, checked against body_sha256"),
    attachment: list[str] = typer.Option([], metavar="NAME=FILE", help="an attachment to check; repeat for several"),
    unit: str = typer.Option(None, help="the unit that should have sealed it (default: the manifest's issuer_code)"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
):
    """Check a sealed manifest offline (离线验章); exit 0 valid, 1 invalid, 2 unusable input."""
    attachment_files = _attachment_files(attachment)
    manifest_bytes, signature_bytes = _read(manifest, "manifest"), _read(signature, "signature")
    ca_bytes = _read(ca, "CA certificate")
    body_bytes = _read(body, "body") if body is not None else None
    attachments = {name: _read(file, f"attachment {name}") for name, file in attachment_files.items()}
    try:
        result = offline.verify_offline(manifest_bytes, signature_bytes, ca_bytes, unit_code=unit, body=body_bytes,
                                        attachments=attachments or None)
    except ValueError as exc:  # only a CA file without a certificate: the wrong file, not an invalid seal
        typer.echo(f"cannot use CA certificate {ca}: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
    else:
        typer.echo("VALID" if result["valid"] else "INVALID")
        for label, key in (("reason", "reason"), ("unit code", "unit_code"), ("seal serial", "seal_serial"),
                           ("signed at", "signed_at")):
            typer.echo(f"{label + ':':<13}{result[key] if result[key] is not None else '-'}")
        typer.echo(offline.REVOCATION_NOTE)
    raise typer.Exit(0 if result["valid"] else 1)


@app.command()
def me(profile: str = PROFILE):
    """Who the kept token belongs to."""
    _call(profile, "GET", "/api/v1/me")


# -- documents (发文, 收文) --------------------------------------------------------------------

Urgency = Enum("Urgency", {name: name for name in documents.URGENCIES}, type=str)


@app.command()
def send(
    body: Path = typer.Option(..., exists=True, dir_okay=False, help="the body (正文), sent under its file name"),
    attachment: list[Path] = typer.Option([], exists=True, dir_okay=False, metavar="FILE",
                                         help="an attachment (附件); repeat"),
    metadata: Path = typer.Option(None, "--metadata", exists=True, dir_okay=False,
                                  help="API.md's metadata as a JSON file; the flags below replace its fields"),
    doc_number: str = typer.Option(None, help="发文字号, e.g. 穗府办〔2026〕1号"),
    title: str = typer.Option(None, help="标题"),
    signer: str = typer.Option(None, help="签发人"),
    urgency: Urgency = typer.Option(None, help="紧急程度"),
    main_recipient: list[str] = typer.Option([], "--main", metavar="CODE", help="主送 unit code; repeat"),
    cc_recipient: list[str] = typer.Option([], "--cc", metavar="CODE", help="抄送 unit code; repeat"),
    print_grant: list[str] = typer.Option([], metavar="CODE=N", help="copies a recipient may print; repeat"),
    paper_attachment: list[str] = typer.Option([], metavar="TEXT", help="a part that travels on paper; repeat"),
    secrecy: str = typer.Option(None, help="密级: only none travels here (the default)"),
    idempotency_key: str = typer.Option(None, help="the same key again sends once (safe retries)"),
    progress: bool = typer.Option(None, "--progress/--no-progress",
                                  help="show the upload's progress on stderr (default: when it is a terminal)"),
    profile: str = PROFILE,
):
    """Send a sealed document (发文): the exchange seals the manifest with the unit's seal."""
    try:
        fields = documents.read_metadata_file(metadata) if metadata is not None else {}
        merged = documents.build_metadata(
            fields, doc_number=doc_number, title=title, signer=signer, urgency=urgency.value if urgency else None,
            main=main_recipient, cc=cc_recipient, grants=documents.print_grants(print_grant),
            paper_attachments=paper_attachment, secrecy=secrecy)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    gateway = _gateway(profile)
    shown = sys.stderr.isatty() if progress is None else progress
    try:
        with documents.progress_bar(shown, f"发文 {merged['doc_number']}") as bar:
            sent = documents.send(gateway, merged, body, attachment, idempotency_key, bar)
    except GatewayError as refused:
        _fail(refused)
    _echo_json(sent)


@app.command()
def inbox(
    state: str = typer.Option(None, help="delivered | read | signed | registered | returned | recalled | paper_served"),
    urgency: Urgency = typer.Option(None),
    since: str = typer.Option(None, help="delivered at or after, RFC 3339"),
    limit: int = typer.Option(50, min=1),
    cursor: str = typer.Option(None, help="next_cursor of the previous page"),
    table: bool = typer.Option(False, "--table", help="a table for people instead of JSON"),
    profile: str = PROFILE,
):
    """The unit's received documents (收文), newest first."""
    params = {"state": state, "urgency": urgency.value if urgency else None, "since": since, "limit": limit,
              "cursor": cursor}
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    gateway = _gateway(profile)
    try:
        page = gateway.request("GET", f"/api/v1/inbox?{query}")
    except GatewayError as refused:
        _fail(refused)
    if table:
        from rich.console import Console

        Console().print(documents.inbox_table(page))
    else:
        _echo_json(page)


@app.command()
def fetch(
    document_id: str = typer.Argument(..., metavar="DOCUMENT_ID"),
    to: Path = typer.Option(None, file_okay=False, help="where to save the files (default ./DOCUMENT_ID/)"),
    ca: Path = typer.Option(None, "--ca", dir_okay=False, help="the operator CA (PEM); default: the gateway's, saved"),
    profile: str = PROFILE,
):
    """Download a document (收文) with its manifest and seal, and verify it offline (离线验章).

    Exit 0 valid, 1 invalid, 2 refused or unusable input.
    """
    ca_bytes = _read(ca, "CA certificate") if ca is not None else None
    gateway = _gateway(profile)
    try:
        result = documents.fetch(gateway, document_id, to, ca_bytes)
    except GatewayError as refused:
        _fail(refused)
    except (OSError, ValueError) as exc:  # an unwritable folder, or a CA file without a certificate
        typer.echo(f"cannot fetch {document_id}: {exc}", err=True)
        raise typer.Exit(2) from None
    _echo_json(result)
    typer.echo(offline.REVOCATION_NOTE, err=True)
    raise typer.Exit(0 if result["valid"] else 1)


def _document_path(document_id: str, action: str) -> str:
    return f"/api/v1/documents/{documents.segment(document_id)}/{action}"


@app.command()
def sign(document_id: str = typer.Argument(..., metavar="DOCUMENT_ID"), profile: str = PROFILE):
    """Sign for a received document (签收); the exchange verifies the seal again first."""
    _call(profile, "POST", _document_path(document_id, "sign"))


@app.command()
def register(document_id: str = typer.Argument(..., metavar="DOCUMENT_ID"),
             number: str = typer.Option(..., help="the unit's own registration number (收文编号)"),
             profile: str = PROFILE):
    """Register a signed-for document (登记) under the unit's number."""
    _call(profile, "POST", _document_path(document_id, "register"), {"registration_number": number})


@app.command("return")
def return_document(document_id: str = typer.Argument(..., metavar="DOCUMENT_ID"),
                    reason: str = typer.Option(..., help="why, for the sender"), profile: str = PROFILE):
    """Return a document to its sender (退回) with the reason."""
    _call(profile, "POST", _document_path(document_id, "return"), {"reason": reason})


@units.command("list")
def list_units(q: str = typer.Option(None, help="part of a name"), parent: str = typer.Option(None),
               limit: int = 50, cursor: str = None, profile: str = PROFILE):
    """The directory, one page at a time (``next_cursor`` gives the next)."""
    _call(profile, "GET", "/api/v1/units", params={"q": q, "parent": parent, "limit": limit, "cursor": cursor})


@units.command("show")
def show_unit(code: str, profile: str = PROFILE):
    _call(profile, "GET", f"/api/v1/units/{code}")


@units.command("apply")
def apply_unit(code: str = typer.Option(...), name: str = typer.Option(...), kind: str = typer.Option(...),
               parent: str = typer.Option(None), profile: str = PROFILE):
    """File a unit's application (the operator approves it)."""
    _call(profile, "POST", "/api/v1/units", {"code": code, "name": name, "kind": kind, "parent_code": parent})


@units.command("approve")
def approve_unit(code: str, profile: str = PROFILE):
    _call(profile, "POST", f"/api/v1/units/{code}/approve")


@units.command("rename")
def rename_unit(code: str, name: str = typer.Option(...), profile: str = PROFILE):
    _call(profile, "POST", f"/api/v1/units/{code}/rename", {"name": name})


@users.command("create")
def create_user(username: str = typer.Option(...), name: str = typer.Option(..., help="real name"),
                unit: str = typer.Option(...), role: list[str] = typer.Option(..., help="repeat for several"),
                mobile: str = typer.Option(None), public_key: Path = typer.Option(..., exists=True, dir_okay=False),
                initial_password: str = typer.Option(..., prompt=True, hide_input=True), profile: str = PROFILE):
    """Request (unit admin) or create (operator) an account with its U_Key public key."""
    _call(profile, "POST", "/api/v1/users", {
        "username": username, "name": name, "unit_code": unit, "roles": role, "mobile": mobile,
        "initial_password": initial_password, "device_public_key": public_key.read_text()})


@users.command("approve")
def approve_user(user_id: str, profile: str = PROFILE):
    _call(profile, "POST", f"/api/v1/users/{user_id}/approve")


@users.command("disable")
def disable_user(user_id: str, reason: str = typer.Option(...), profile: str = PROFILE):
    _call(profile, "POST", f"/api/v1/users/{user_id}/disable", {"reason": reason})


@admin.command()
def bootstrap(
    username: str = typer.Option(..., help="the first operator's user name"),
    password: str = typer.Option(..., prompt=True, hide_input=True, help="their password (asked if not given)"),
    public_key: Path = typer.Option(..., exists=True, dir_okay=False, help="PEM file of their U_Key public key"),
    name: str = typer.Option("Operator", help="their real name"),
    amqp_uri: str = typer.Option(os.environ.get("AMQP_URI", DEFAULT_AMQP_URI), help="the suite's broker"),
):
    """Create the first operator with that device public key; refused once any operator exists."""
    from nameko.standalone.rpc import ServiceRpcProxy

    from gongwen_common.errors import DomainError

    try:
        with ServiceRpcProxy("identity", {"AMQP_URI": amqp_uri}, timeout=30) as identity:
            user = identity.bootstrap_operator(username, password, public_key.read_text(), name=name)
    except DomainError as refused:
        typer.echo(f"refused: {refused.code}: {refused.message}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"operator {user['username']} created ({user['user_id']})")
from . import notify  # noqa: E402,F401 - its commands (notifications, sms) register on app
