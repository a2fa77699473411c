"""One's own account: ``login`` (password + U_Key), ``password``, ``me``, ``logout``.

``login`` signs the server's challenge with the U_Key from a key file or a PKCS#11 token and
keeps the access token per ``--profile`` (in ``$GONGWEN_HOME`` or ``~/.config/gongwen``).
"""
import os
from pathlib import Path

import typer

from .common import (
    DEFAULT_GATEWAY,
    PASSWORD_STDIN,
    PROFILE,
    call,
    echo_json,
    fail,
    gateway_for,
    passwords,
    request,
    usage,
)
from .gateway import Gateway, GatewayError, Profiles
from .u_key import KeyFileSigner, Pkcs11Signer, UnusableKey

GATEWAY = typer.Option(DEFAULT_GATEWAY, envvar="GONGWEN_GATEWAY", help="the gateway's URL")


def _log_in(gateway: str, username: str, password: str, key_file: Path | None, profile: str, signer=None) -> dict:
    if signer is None:
        try:
            signer = KeyFileSigner(key_file)
        except UnusableKey as exc:
            usage(str(exc))
    try:
        result = Gateway(gateway).login(username, password, signer)
    except GatewayError as refused:
        fail(refused)
    except UnusableKey as exc:  # the token refused (a wrong PIN): the user's to correct
        usage(str(exc))
    kept = {"gateway": gateway, "username": username, "access_token": result["access_token"]}
    if key_file is not None:  # so `gongwen password` can log in again with the new password
        kept["key_file"] = str(Path(key_file).resolve())
    Profiles().save(profile, kept)
    return result


def login(
    username: str = typer.Option(..., help="your user name"),
    key_file: Path = typer.Option(None, dir_okay=False, help="U_Key as a PEM private key file"),
    pkcs11_module: str = typer.Option(None, help="PKCS#11 library of the U_Key, e.g. /usr/lib/softhsm/libsofthsm2.so"),
    token_label: str = typer.Option(None, help="PKCS#11 token label"),
    key_label: str = typer.Option(None, help="label of the device key in the token"),
    password_stdin: bool = PASSWORD_STDIN,
    gateway: str = GATEWAY,
    profile: str = PROFILE,
):
    """Log in with password + U_Key; the access token is kept for the following commands.

    The password is asked for (or taken from GONGWEN_PASSWORD, or stdin with --password-stdin);
    a token's PIN likewise (GONGWEN_PIN).
    """
    if (key_file is None) == (pkcs11_module is None):
        raise typer.BadParameter("give exactly one of --key-file or --pkcs11-module")
    signer = None
    if pkcs11_module is not None:
        if not token_label:
            raise typer.BadParameter("--token-label is needed with --pkcs11-module")
        pin = os.environ.get("GONGWEN_PIN") or typer.prompt("PIN", hide_input=True)
        try:
            signer = Pkcs11Signer(pkcs11_module, token_label, pin, key_label)
        except UnusableKey as exc:
            usage(str(exc))
    [password] = passwords(password_stdin, ("Password", "GONGWEN_PASSWORD", False))
    result = _log_in(gateway, username, password, key_file, profile, signer)
    typer.echo(f"logged in as {username}" + ("; change your initial password now: gongwen password"
                                              if result["must_change_password"] else ""))


def password(password_stdin: bool = PASSWORD_STDIN, profile: str = PROFILE):
    """Change your own password (at first login, on expiry, at will).

    Asks for the current and the new password (or GONGWEN_PASSWORD and GONGWEN_NEW_PASSWORD, or
    two lines on stdin with --password-stdin). Every session ends; with a key file the command
    logs in again with the new password.
    """
    old, new = passwords(password_stdin, ("Current password", "GONGWEN_PASSWORD", False),
                         ("New password", "GONGWEN_NEW_PASSWORD", True))
    request(profile, "POST", "/api/v1/auth/password", {"old_password": old, "new_password": new})
    kept = Profiles().get(profile)
    if kept.get("key_file") and Path(kept["key_file"]).exists():
        _log_in(kept["gateway"], kept["username"], new, Path(kept["key_file"]), profile)
        typer.echo(f"password changed; logged in again as {kept['username']}")
    else:
        typer.echo(f"password changed; every session ended: log in again with gongwen login --username "
                   f"{kept['username']}")


def me(profile: str = PROFILE):
    """Who the kept token belongs to."""
    call(profile, "GET", "/api/v1/me")


def logout(profile: str = PROFILE):
    """Revoke the kept token and forget it."""
    gateway = gateway_for(profile)
    try:
        gateway.request("POST", "/api/v1/auth/logout")
    except GatewayError as refused:
        if refused.status != 401:  # already expired or revoked: forgetting it is all that is left
            fail(refused)
    kept = Profiles().get(profile)
    Profiles().save(profile, {key: value for key, value in kept.items() if key != "access_token"})
    echo_json({"logged_out": kept["username"]})


def register(app: typer.Typer) -> None:
    for command in (login, password, me, logout):
        app.command()(command)
