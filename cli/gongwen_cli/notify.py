"""``gongwen notifications DOC_ID``: who was told of a document, when, by which channel and with
what outcome (the proof of 001 §21); ``gongwen sms --month YYYY-MM``: a unit's SMS and calls of a
month and their price (000 §11: each unit pays its own)."""
import re

import typer
from rich.console import Console
from rich.table import Table

from .common import PROFILE, echo_json, fail, gateway_for, segment, usage
from .gateway import GatewayError

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def notifications_table(items: list[dict]) -> Table:
    table = Table("unit", "role", "channel", "to", "step", "status", "reason", "created", "delivered")
    for item in items:
        table.add_row(item["unit_code"], item["role"], item["channel"], item.get("to") or "-", str(item["step"]),
                      item["status"], item.get("reason") or item.get("error_code") or "", item["created_at"],
                      item.get("delivered_at") or "")
    return table


def notifications(document_id: str = typer.Argument(..., metavar="DOC_ID"),
                  as_json: bool = typer.Option(False, "--json", help="the API's answer as JSON"),
                  profile: str = PROFILE):
    """Who was told of the document (the sender: every recipient unit; a recipient: its own)."""
    try:
        answer = gateway_for(profile).request("GET", f"/api/v1/documents/{segment(document_id)}/notifications")
    except GatewayError as refused:
        fail(refused)
    if as_json:
        echo_json(answer)
    elif not answer["items"]:
        typer.echo("nobody was notified of this document")
    else:
        Console().print(notifications_table(answer["items"]))


def sms(month: str = typer.Option(..., help="YYYY-MM"),
        unit: str = typer.Option(None, help="the unit's code (the operator's choice; default: your own unit)"),
        profile: str = PROFILE):
    """A unit's SMS and calls of a month: messages, segments, calls and their price."""
    if not MONTH.match(month):
        usage("--month: expected YYYY-MM")
    gateway = gateway_for(profile)
    try:
        code = unit or gateway.request("GET", "/api/v1/me")["unit_code"]
        echo_json(gateway.request("GET", f"/api/v1/units/{segment(code)}/sms?month={month}"))
    except GatewayError as refused:
        fail(refused)


def register(app: typer.Typer) -> None:
    app.command()(notifications)
    app.command()(sms)
