"""``gongwen report``: the supervision report (督查通报) of a period — JSON on stdout, or an HTML,
CSV or PDF file for the periodic circular. The operator's covers every unit; a unit admin's or
clerk's their own unit."""
import calendar
import json
import sys
from contextlib import nullcontext
from datetime import date
from pathlib import Path

import typer

from .common import PROFILE, echo_json, fail, gateway_for, query, usage
from .gateway import GatewayError

FORMATS = ("json", "html", "csv", "pdf")
PERIOD_STEP = "give --from on or before --to, at most 366 days apart, between 2000 and 2100 (or --month YYYY-MM)"


def period(month: str | None, first: str | None, last: str | None) -> tuple[str, str]:
    """``--month YYYY-MM``, or ``--from`` and ``--to`` (dates, both days included)."""
    if month:
        if first or last:
            usage("give --month, or --from and --to, not both.")
        try:
            year, number = (int(part) for part in month.split("-"))
            days = calendar.monthrange(year, number)[1]
        except (ValueError, calendar.IllegalMonthError):
            usage(f"--month {month!r} is not a month (YYYY-MM).")
        return date(year, number, 1).isoformat(), date(year, number, days).isoformat()
    if not (first and last):
        usage("give --month YYYY-MM, or --from YYYY-MM-DD and --to YYYY-MM-DD.")
    return first, last


def report(month: str = typer.Option(None, "--month", help="a calendar month, YYYY-MM"),
           first: str = typer.Option(None, "--from", help="the first day, YYYY-MM-DD"),
           last: str = typer.Option(None, "--to", help="the last day, YYYY-MM-DD (included)"),
           format: str = typer.Option("json", "--format", help="json (stdout), html, csv or pdf"),
           out: Path = typer.Option(None, "--out", help="where to write the file "
                                                        "(default: the report's own name, here)"),
           progress: bool = typer.Option(None, "--progress/--no-progress",
                                         help="show that the archive is still computing, on stderr "
                                              "(default: when it is a terminal)"),
           profile: str = PROFILE):
    """The supervision report: per unit received, signed on time, late (by how much), never signed,
    returned; time-to-sign by urgency; notification evidence; presence; the electronic rate."""
    if format not in FORMATS:
        usage(f"--format must be one of {', '.join(FORMATS)}.")
    first, last = period(month, first, last)
    gateway = gateway_for(profile)
    path = query("/api/v1/reports/supervision", {"from": first, "to": last, "format": format})
    shown = sys.stderr.isatty() if progress is None else progress
    # A month of a large city is computed from the whole ledger: say that it is being done.
    waiting = _status(f"督查通报 {first}..{last}: the archive is computing the report") if shown else nullcontext()
    try:
        with waiting:
            # The gateway gives the archive 120 s; ``Gateway.download``'s 30 s would give up first.
            data, headers = gateway._open("GET", path, timeout=150)
    except GatewayError as refused:
        fail(refused, PERIOD_STEP if refused.body.get("error") == "INVALID_PERIOD" else None)
    if format == "json" and out is None:
        echo_json(json.loads(data))
        return
    target = out or Path(headers.get_filename() or f"supervision-{first}-{last}.{format}")
    target.write_bytes(data)
    typer.echo(json.dumps({"written": str(target), "bytes": len(data),
                           "media_type": headers.get_content_type()}, ensure_ascii=False))


def _status(text: str):
    from rich.console import Console

    return Console(stderr=True).status(text)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
