"""``gongwen`` commands. Everything but ``admin bootstrap`` talks to the gateway only.

``admin bootstrap`` runs on the operator's own host before any account exists, so it calls
the identity service directly over the broker (``AMQP_URI``), once.
"""
import os
from pathlib import Path

import typer

app = typer.Typer(help="Gongwen 公文: electronic official-document exchange.", no_args_is_help=True)
admin = typer.Typer(help="Operator tasks on the exchange centre's own host.", no_args_is_help=True)
app.add_typer(admin, name="admin")

DEFAULT_AMQP_URI = "pyamqp://guest:guest@127.0.0.1:5673/"


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
