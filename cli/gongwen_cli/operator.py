"""``gongwen admin bootstrap``: the first operator, made on the exchange centre's own host before
any account exists, so it calls the identity service directly over the broker (``AMQP_URI``), once."""
import json
import os
import warnings
from pathlib import Path

import typer

from .common import PASSWORD_STDIN, REFUSED, passwords, read_bytes

DEFAULT_AMQP_URI = "pyamqp://guest:guest@127.0.0.1:5673/"

admin = typer.Typer(help="Operator tasks on the exchange centre's own host.", no_args_is_help=True)


@admin.command()
def bootstrap(
    username: str = typer.Option(..., help="the first operator's user name"),
    public_key: Path = typer.Option(..., dir_okay=False, help="PEM file of their U_Key public key"),
    name: str = typer.Option("Operator", help="their real name"),
    password_stdin: bool = PASSWORD_STDIN,
    amqp_uri: str = typer.Option(os.environ.get("AMQP_URI", DEFAULT_AMQP_URI), help="the suite's broker (AMQP_URI)"),
):
    """Create the first operator with that device public key; refused once any operator exists.

    The password is asked for (or GONGWEN_PASSWORD, or stdin with --password-stdin).
    """
    # nameko brings eventlet, whose deprecation notice is not for the operator: stderr is the refusal's JSON
    warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")
    from nameko.standalone.rpc import ServiceRpcProxy

    from gongwen_common.errors import DomainError

    key = read_bytes(public_key, "public key").decode(errors="replace")
    [password] = passwords(password_stdin, ("Password", "GONGWEN_PASSWORD", True))
    try:
        with ServiceRpcProxy("identity", {"AMQP_URI": amqp_uri}, timeout=30) as identity:
            user = identity.bootstrap_operator(username, password, key, name=name)
    except DomainError as refused:
        typer.echo(json.dumps({"error": refused.code, "message": refused.message,
                               "next": "the operator exists: gongwen login, then gongwen users create"},
                              ensure_ascii=False), err=True)
        raise typer.Exit(REFUSED) from None
    typer.echo(f"operator {user['username']} created ({user['user_id']})")


def register(app: typer.Typer) -> None:
    app.add_typer(admin, name="admin")
