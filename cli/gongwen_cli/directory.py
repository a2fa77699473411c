"""``gongwen units …`` (使用单位: the directory and its lifecycle) and ``gongwen users …``
(real-name accounts), and ``gongwen approvals``: what waits for the operator."""
from enum import Enum
from pathlib import Path

import typer

from .common import PASSWORD_STDIN, PROFILE, call, echo_json, many, passwords, read_bytes, request, segment

# The values the registry and identity accept (API.md); tests/… keep them equal to the OpenAPI document.
UNIT_KINDS = ("government", "department", "district", "public_body", "enterprise", "operator", "secrecy_bureau")
ROLES = ("admin", "clerk", "leader", "staff", "custodian", "operator", "secrecy_officer")
USER_STATUSES = ("pending", "active", "disabled")
Kind = Enum("Kind", {name: name for name in UNIT_KINDS}, type=str)
Role = Enum("Role", {name: name for name in ROLES}, type=str)
UserStatus = Enum("UserStatus", {name: name for name in USER_STATUSES}, type=str)

units = typer.Typer(help="The unit directory and its lifecycle (使用单位).", no_args_is_help=True)
users = typer.Typer(help="Real-name accounts (one person, one account).", no_args_is_help=True)

LIMIT = typer.Option(50, min=1, max=200, help="items per page")
CURSOR = typer.Option(None, help="next_cursor of the previous page")


@units.command("list")
def list_units(q: str = typer.Option(None, help="part of a name"), parent: str = typer.Option(None),
               limit: int = LIMIT, cursor: str = CURSOR, profile: str = PROFILE):
    """The directory, one page at a time (``next_cursor`` gives the next)."""
    call(profile, "GET", "/api/v1/units", params={"q": q, "parent": parent, "limit": limit, "cursor": cursor})


@units.command("show")
def show_unit(code: str, profile: str = PROFILE):
    """One unit."""
    call(profile, "GET", f"/api/v1/units/{segment(code)}")


@units.command("apply")
def apply_unit(code: str = typer.Option(..., help="a short stable code, e.g. gz-edu"),
               name: str = typer.Option(..., help="the unit's official name"),
               kind: Kind = typer.Option(..., help="what kind of unit it is"),
               parent: str = typer.Option(None, help="the parent unit's code"), profile: str = PROFILE):
    """File a unit's application (the operator approves it: gongwen units approve CODE)."""
    call(profile, "POST", "/api/v1/units", {"code": code, "name": name, "kind": kind.value, "parent_code": parent})


@units.command("approve")
def approve_unit(code: str, profile: str = PROFILE):
    """Approve a unit's application (operator). The other services learn of it within seconds."""
    call(profile, "POST", f"/api/v1/units/{segment(code)}/approve")


@units.command("rename")
def rename_unit(code: str, name: str = typer.Option(..., help="the new name"), profile: str = PROFILE):
    """Rename a unit (operator); the old name stays in its history."""
    call(profile, "POST", f"/api/v1/units/{segment(code)}/rename", {"name": name})


@users.command("list")
def list_users(unit: str = typer.Option(None, help="a unit's code"), status: UserStatus = typer.Option(None),
               q: str = typer.Option(None, help="part of a name or user name"), limit: int = LIMIT,
               cursor: str = CURSOR, profile: str = PROFILE):
    """Accounts: the operator's of every unit, a unit admin's of its own."""
    call(profile, "GET", "/api/v1/users", params={"unit": unit, "status": status.value if status else None, "q": q,
                                                  "limit": limit, "cursor": cursor})


@users.command("create")
def create_user(username: str = typer.Option(...), name: str = typer.Option(..., help="real name"),
                unit: str = typer.Option(..., help="the unit's code"),
                role: list[Role] = many("--role", help="a role", show_default=False),
                mobile: str = typer.Option(None, help="mobile number (a leader's and a clerk's are needed for SMS)"),
                public_key: Path = typer.Option(..., dir_okay=False, help="PEM file of the person's U_Key public key"),
                password_stdin: bool = PASSWORD_STDIN, profile: str = PROFILE):
    """Request (unit admin) or create (operator) an account with its U_Key public key.

    The initial password is asked for (or GONGWEN_INITIAL_PASSWORD, or stdin); its holder changes
    it at first login (gongwen password).
    """
    if not role:
        raise typer.BadParameter("give at least one --role", param_hint="--role")
    key = read_bytes(public_key, "public key").decode(errors="replace")
    [initial] = passwords(password_stdin, ("Initial password", "GONGWEN_INITIAL_PASSWORD", True))
    call(profile, "POST", "/api/v1/users", {
        "username": username, "name": name, "unit_code": unit, "roles": [r.value for r in role], "mobile": mobile,
        "initial_password": initial, "device_public_key": key}, wait_for_directory=True)


@users.command("approve")
def approve_user(user_id: str, profile: str = PROFILE):
    """Approve a requested account (operator)."""
    call(profile, "POST", f"/api/v1/users/{segment(user_id)}/approve")


@users.command("disable")
def disable_user(user_id: str, reason: str = typer.Option(..., help="why, for the record"), profile: str = PROFILE):
    """Disable an account at once (someone left: 001 §26)."""
    call(profile, "POST", f"/api/v1/users/{segment(user_id)}/disable", {"reason": reason})


@users.command("reset-password")
def reset_password(user_id: str, password_stdin: bool = PASSWORD_STDIN, profile: str = PROFILE):
    """Set a new initial password (unit admin or operator); its holder changes it at next login."""
    [initial] = passwords(password_stdin, ("New initial password", "GONGWEN_INITIAL_PASSWORD", True))
    call(profile, "POST", f"/api/v1/users/{segment(user_id)}/reset-password", {"initial_password": initial})


def _every(profile: str, path: str, params: dict, keep) -> list:
    items, cursor = [], None
    while True:
        page = request(profile, "GET", path, params={**params, "limit": 200, "cursor": cursor})
        items += [item for item in page["items"] if keep(item)]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def approvals(profile: str = PROFILE):
    """What waits for the operator: units applied for (gongwen units approve CODE) and accounts
    requested (gongwen users approve USER_ID). A seal application is approved by the serial its
    applicant was given (gongwen seals approve SERIAL)."""
    echo_json({"units": _every(profile, "/api/v1/units", {}, lambda unit: unit.get("status") == "applied"),
               "users": _every(profile, "/api/v1/users", {"status": "pending"}, lambda user: True)})


def register(app: typer.Typer) -> None:
    app.add_typer(units, name="units")
    app.add_typer(users, name="users")
    app.command()(approvals)
