"""What every command shares: the kept token, one gateway call, answers on stdout as JSON, and
refusals on stderr as JSON with a next step and an exit code a script can tell apart.

Exit codes: 0 done (a verification: valid) · 1 a verification found the seal invalid · 2 the
command line or an input file cannot be used · 3 the gateway refused (its ``error`` code and
``fields`` are printed) · 4 the gateway or a service behind it could not answer.

Passwords are never command-line arguments (they would sit in the shell history and in ``ps``):
they are asked for without echo, or read from an environment variable or from stdin for scripts.
"""
import json
import os
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import typer

from .documents import segment  # noqa: F401  (the commands' path segments)
from .gateway import Gateway, GatewayError, Profiles

INVALID, USAGE, REFUSED, UNREACHABLE = 1, 2, 3, 4

DEFAULT_GATEWAY = "http://127.0.0.1:8080"
PROFILE = typer.Option("default", "--profile", envvar="GONGWEN_PROFILE",
                       help="whose kept token to use (see gongwen login)")
PASSWORD_STDIN = typer.Option(False, "--password-stdin",
                              help="read the password(s) from stdin, one a line (for scripts)")

# Right after `units approve` the other services learn of the unit from the registry's event, a
# moment later; until then they answer UNKNOWN_UNIT. A command waits this long before saying so.
CATCH_UP_SECONDS = 10.0

_LOGIN = "log in: gongwen login --username USER --key-file U_KEY.pem"
NEXT_STEPS = {
    "UNAUTHENTICATED": _LOGIN + " (tokens last 15 minutes; a password change ends every session)",
    "CHALLENGE_EXPIRED": "run gongwen login again",
    "CHALLENGE_USED": "run gongwen login again",
    "INVALID_CREDENTIALS": "check the username, the password and that the key file is this account's U_Key",
    "DEVICE_SIGNATURE_INVALID": "check the username, the password and that the key file is this account's U_Key",
    "ACCOUNT_LOCKED": "wait until the time given, or ask your unit admin to reset the password",
    "ACCOUNT_DISABLED": "ask your unit admin or the operator: the account is disabled",
    "PASSWORD_CHANGE_REQUIRED": "change the initial password first: gongwen password",
    "PASSWORD_TOO_WEAK": "choose another: 8 characters or more with a letter, a digit and a symbol, "
                         "not a common password, not containing the username",
    "FORBIDDEN": "your roles do not allow this (gongwen me shows them); ask your unit admin or the operator",
    "PROXY_NOT_ALLOWED": "this is done in person: log in as yourself, not as a proxy",
    "NOT_FOUND": "check the id or code (another unit's resources are not shown)",
    "VALIDATION_ERROR": "correct the fields listed and run the command again",
    "MALFORMED_JSON": "correct the JSON and run the command again",
    "UNKNOWN_UNIT": "check the code with gongwen units show CODE; a unit approved moments ago reaches every "
                    "service within seconds, so try again shortly",
    "UNIT_NOT_APPLIED": "the unit is not awaiting approval: gongwen units show CODE",
    "SEAL_NOT_ACTIVE": "the unit needs an active seal: gongwen seals apply --unit CODE --custodian USER_ID, "
                       "then the operator runs gongwen seals approve SERIAL",
    "SEAL_EXPIRED": "apply for a new seal: gongwen seals apply --unit CODE --custodian USER_ID",
    "CUSTODY_APPROVAL_REQUIRED": "the custodians approve its manifest_sha256 first: gongwen seals approve-use "
                                 "SERIAL --manifest-sha256 H, then gongwen seal DOCUMENT_ID --approval ID ...",
    "NOT_A_CUSTODIAN": "only a custodian named in the seal's custody approves its use: gongwen seals show SERIAL",
    "INVALID_SEAL_STATE": "gongwen seals show SERIAL says what state the seal is in",
    "DOC_NUMBER_TAKEN": "each issuer uses a 发文字号 once a year: choose another --doc-number",
    "INVALID_RECEIPT_STATE": "gongwen inbox shows the receipt's state (sign before register)",
    "RATE_LIMITED": "wait a minute and try again",
    "IDEMPOTENCY_KEY_REUSED": "that --idempotency-key was used for a different request: choose a new one",
    "UNREACHABLE": "is the suite running (make run)? --gateway or GONGWEN_GATEWAY names the gateway",
    "TIMEOUT": "try again; with the same --idempotency-key a retried send is not sent twice",
    "SERVICE_UNAVAILABLE": "try again shortly; with the same --idempotency-key a retried send is not sent twice",
    "INTERNAL": "try again; if it persists, the operator finds the request_id in var/log/",
}


def fail(error: GatewayError, next_step: str | None = None):
    """The refusal as one JSON object on stderr, then the exit code it stands for."""
    body = error.body
    code = body.get("error") or f"HTTP_{error.status}"
    shown = {"error": code, "message": body.get("message", ""), "status": error.status or None}
    for key in ("fields", "request_id"):
        if body.get(key):
            shown[key] = body[key]
    shown["next"] = next_step or NEXT_STEPS.get(code) or f"see docs/api.md for {code}"
    typer.echo(json.dumps(shown, ensure_ascii=False), err=True)
    raise typer.Exit(UNREACHABLE if error.status == 0 or error.status >= 500 else REFUSED)


def usage(message: str):
    """Unusable input (a file, a flag's value): one sentence on stderr, exit 2 like any usage error."""
    typer.echo(f"gongwen: {message}", err=True)
    raise typer.Exit(USAGE)


def echo_json(answer) -> None:
    typer.echo(json.dumps(answer, ensure_ascii=False, indent=2))


def gateway_for(profile: str) -> Gateway:
    """The gateway with the profile's kept token."""
    try:
        saved = Profiles().get(profile)
    except GatewayError as refused:
        fail(refused)
    return Gateway(saved["gateway"], saved["access_token"])


def query(path: str, params: dict | None = None) -> str:
    pairs = [(k, v) for k, v in (params or {}).items() if v is not None]
    return path + (f"?{urllib.parse.urlencode(pairs)}" if pairs else "")


def catching_up(attempt: Callable[[], object], seconds: float = CATCH_UP_SECONDS, clock=time.monotonic,
                sleep=time.sleep):
    """``attempt()`` retried while a service answers UNKNOWN_UNIT, up to ``seconds``: the directory
    reaches every service a moment after ``units approve``. Other refusals go through at once; the
    last UNKNOWN_UNIT says that the command waited."""
    deadline = clock() + seconds
    while True:
        try:
            return attempt()
        except GatewayError as refused:
            if refused.body.get("error") != "UNKNOWN_UNIT":
                raise
            if clock() >= deadline:
                refused.body = {**refused.body, "message": f"{refused.body.get('message', '')} (still unknown after "
                                                          f"waiting {seconds:g} s for the directory)".strip()}
                raise
        sleep(0.5)


def request(profile: str, method: str, path: str, body: dict | None = None, params: dict | None = None,
            headers: dict | None = None, wait_for_directory: bool = False):
    """One gateway call with the profile's token; the answer, or the refusal printed and exit."""
    gateway = gateway_for(profile)
    try:
        if wait_for_directory:
            return catching_up(lambda: gateway.request(method, query(path, params), body, headers))
        return gateway.request(method, query(path, params), body, headers)
    except GatewayError as refused:
        fail(refused)


def call(profile: str, method: str, path: str, body: dict | None = None, params: dict | None = None,
         **options) -> None:
    """:func:`request`, its answer printed as JSON (for people and scripts)."""
    answer = request(profile, method, path, body, params, **options)
    if answer is not None:
        echo_json(answer)


def read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        usage(f"cannot read {what} {path}: {exc.strerror or exc}.")


def passwords(stdin: bool, *wanted: tuple[str, str, bool]) -> list[str]:
    """One password per ``(prompt, environment variable, confirm)``: from stdin (one a line) with
    ``--password-stdin``, else from the variable when it is set, else asked without echo."""
    if stdin:
        lines = sys.stdin.read().splitlines()
        if len(lines) < len(wanted) or not all(lines[:len(wanted)]):
            usage(f"--password-stdin expects {len(wanted)} non-empty line(s) on stdin.")
        return lines[:len(wanted)]
    found = []
    for prompt, variable, confirm in wanted:
        value = os.environ.get(variable)
        if not value:
            if not sys.stdin.isatty():
                usage(f"no terminal to ask for the {prompt.lower()}: set {variable} or use --password-stdin.")
            value = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
        found.append(value)
    return found


# Options that take several values, written either way: ``--main A B`` or ``--main A --main B``.
# click repeats an option for each value; :func:`expand_multiple` rewrites the first form into the
# second before click reads the command line.
MULTIPLE: set[str] = set()


def many(*names: str, help: str, **options):
    """An option of several values (see :data:`MULTIPLE`); ``names[0]`` is its long name."""
    MULTIPLE.add(names[0])
    return typer.Option([], *names, help=f"{help}; several: {names[0]} A B or {names[0]} A {names[0]} B",
                        **options)


def expand_multiple(argv: list[str]) -> list[str]:
    """``--main A B --cc C`` → ``--main A --main B --cc C``; values run until the next option."""
    expanded, option = [], None
    for token in argv:
        if token == "--":
            option = None
        elif token in MULTIPLE:
            option = token
            expanded.append(token)
            continue
        elif token.startswith("-"):
            option = None
        elif option is not None:
            if expanded[-1] != option:  # the option's second value and after
                expanded.append(option)
            expanded.append(token)
            continue
        expanded.append(token)
    return expanded
