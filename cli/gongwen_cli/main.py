"""``gongwen`` commands. Everything but ``admin bootstrap`` talks to the gateway only.

``login`` signs the server's challenge with the U_Key from a key file or a PKCS#11 token and
keeps the access token per ``--profile`` (in ``$GONGWEN_HOME`` or ``~/.config/gongwen``).

``admin bootstrap`` runs on the operator's own host before any account exists, so it calls
the identity service directly over the broker (``AMQP_URI``), once.
"""
import json
import os
from pathlib import Path

import typer

from .gateway import Gateway, GatewayError, Profiles
from .u_key import KeyFileSigner, Pkcs11Signer

app = typer.Typer(help="Gongwen 公文: electronic official-document exchange.", no_args_is_help=True)
admin = typer.Typer(help="Operator tasks on the exchange centre's own host.", no_args_is_help=True)
app.add_typer(admin, name="admin")

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


@app.command()
def me(profile: str = typer.Option("default")):
    """Who the kept token belongs to."""
    try:
        saved = Profiles().get(profile)
        typer.echo(json.dumps(Gateway(saved["gateway"], saved["access_token"]).request("GET", "/api/v1/me"),
                              ensure_ascii=False))
    except GatewayError as refused:
        _fail(refused)


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
