"""``gongwen seals …``: a unit's electronic seal (电子印章) from application to revocation, and
the custodians' approvals (two-person custody, 双人保管: 003 §22)."""
import os
import uuid

import typer

from .common import DEFAULT_GATEWAY, PROFILE, call, fail, many, segment
from .gateway import Gateway, GatewayError, Profiles

seals = typer.Typer(help="Electronic seals (电子印章): apply, approve, show, revoke; custodians approve uses.",
                    no_args_is_help=True)


@seals.command("apply")
def apply_seal(unit: str = typer.Option(..., help="the unit's code"),
               custodian: list[str] = many("--custodian", help="user id of a custodian (保管人), an active user of "
                                           "the unit (gongwen users list --unit CODE)", show_default=False),
               required_approvals: int = typer.Option(1, min=1, max=2,
                                                      help="custodians who approve each use: 1, or 2 for two-person "
                                                           "custody (then a send waits for both)"),
               idempotency_key: str = typer.Option(None, help="the same key again applies once (safe retries)"),
               profile: str = PROFILE):
    """Apply for a unit's seal (unit admin or operator); the operator approves it: gongwen seals approve SERIAL."""
    if not custodian:
        raise typer.BadParameter("give at least one --custodian", param_hint="--custodian")
    body = {"unit_code": unit, "custody": {"required_approvals": required_approvals, "custodian_user_ids": custodian}}
    call(profile, "POST", "/api/v1/seals", body, headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())},
         wait_for_directory=True)


@seals.command("approve")
def approve_seal(serial: str, profile: str = PROFILE):
    """Approve a seal application (operator): its key pair and certificate are made, and it is active."""
    call(profile, "POST", f"/api/v1/seals/{segment(serial)}/approve")


@seals.command("show")
def show_seal(serial: str, profile: str = PROFILE):
    """One seal: its unit, state, custody and certificate's validity."""
    call(profile, "GET", f"/api/v1/seals/{segment(serial)}")


@seals.command("revoke")
def revoke_seal(serial: str, reason: str = typer.Option(..., help="why, for the record"), profile: str = PROFILE):
    """Revoke a seal (unit admin or operator); documents it sealed before stay verifiable as of their time."""
    call(profile, "POST", f"/api/v1/seals/{segment(serial)}/revoke", {"reason": reason})


@seals.command("approve-use")
def approve_use(serial: str, manifest_sha256: str = typer.Option(..., help="the manifest_sha256 `gongwen send` "
                                                                          "printed for the waiting document"),
                profile: str = PROFILE):
    """A custodian approves one use of the seal on one manifest; prints the approval id for
    gongwen seal DOCUMENT_ID --approval ID."""
    call(profile, "POST", f"/api/v1/seals/{segment(serial)}/use-approvals", {"manifest_sha256": manifest_sha256})


@seals.command("approve-destruction")
def approve_destruction(serial: str, profile: str = PROFILE):
    """Record your presence at the seal's destruction: the operator, a secrecy officer of the secrecy
    bureau and the owning unit's admin, three people; the third destroys it (003 §21)."""
    call(profile, "POST", f"/api/v1/seals/{segment(serial)}/destruction-approvals")


@seals.command("ca")
def ca_certificate(profile: str = PROFILE):
    """The operator CA certificate (PEM) every seal chains to, for gongwen verify --ca (no login needed)."""

    kept = Profiles().load().get(profile) or {}  # public: no login needed
    gateway = Gateway(kept.get("gateway") or os.environ.get("GONGWEN_GATEWAY") or DEFAULT_GATEWAY)
    try:
        pem, _ = gateway.download("/api/v1/seals/ca.pem")
    except GatewayError as refused:
        fail(refused)
    typer.echo(pem.decode(), nl=False)


def register(app: typer.Typer) -> None:
    app.add_typer(seals, name="seals")
