"""Custody of a seal (保管): two-person custody of each use (004 五(四), 003 §22) and the
three-party destruction (003 §21, 004 五(三)).

Two-person custody: with ``required_approvals`` = 2, a use needs the approvals of two distinct
named custodians, each of the exact manifest to be sealed, given within the approval window and
not used before; each approval serves one use. With 1, the unit's clerk sealing is the one act.
Custody is personal: a proxy cannot approve for a custodian, nor stand for a party at destruction.
"""
import re
import uuid

from sqlalchemy import select

from gongwen_common.audit import Caller

from ..models import DestructionApproval, Seal, UseApproval
from . import keys, signers
from .errors import (
    CustodyApprovalRequired,
    DestructionPartyRequired,
    InvalidSealState,
    NotACustodian,
    NotFound,
    SealNotActive,
    ValidationFailed,
)
from .seals import find_seal, in_person, record, seal_view

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
PARTIES = ("operator", "secrecy_bureau", "owning_unit")  # 信息化办, 保密局, 使用单位
SECRECY_BUREAU_KIND = "secrecy_bureau"


def approve_use(session, serial, manifest_sha256, actor, window, now) -> dict:
    """A custodian approves one use of the seal on one manifest; returns the approval's id."""
    caller = Caller.of(actor)
    seal = find_seal(session, serial)
    if caller.unit_code != seal.unit_code and not caller.is_operator:
        raise NotFound(message=f"no seal {serial!r}")
    in_person(caller, "approve a seal's use")
    if caller.user_id not in seal.custodian_user_ids:
        raise NotACustodian(message=f"You are not a named custodian of seal {serial}.")
    if not isinstance(manifest_sha256, str) or not SHA256_HEX.match(manifest_sha256):
        raise ValidationFailed({"manifest_sha256": ["64 lowercase hex digits (sha256 of the manifest bytes)"]})
    if seal.status != "active":
        raise SealNotActive(message=f"seal {serial} is {seal.status}")
    approval = UseApproval(id=str(uuid.uuid4()), seal_serial=seal.serial, manifest_sha256=manifest_sha256,
                           custodian_user_id=caller.user_id, approved_at=now)
    session.add(approval)
    record(session, now, caller, "seal_use_approved", "seal", seal.serial, approval_id=approval.id,
           manifest_sha256=manifest_sha256)
    return {"approval_id": approval.id, "seal_serial": seal.serial, "manifest_sha256": manifest_sha256,
            "custodian_user_id": caller.user_id, "approved_at": now.isoformat(),
            "expires_at": (now + window).isoformat()}


def take_approvals(session, seal: Seal, manifest_sha256: str, approval_ids, window, now) -> list[str]:
    """The approvals this use consumes, or ``CUSTODY_APPROVAL_REQUIRED``. Only approvals of this
    seal and manifest, from current custodians, unused and no older than ``window`` count, and
    one per custodian: the same person twice is one approval."""
    if seal.required_approvals < 2:
        return []
    query = select(UseApproval).where(UseApproval.seal_serial == seal.serial,
                                      UseApproval.manifest_sha256 == manifest_sha256,
                                      UseApproval.used_at.is_(None), UseApproval.approved_at > now - window,
                                      UseApproval.approved_at <= now)
    if approval_ids:  # a list of strings (``sealing.sign`` checked)
        query = query.where(UseApproval.id.in_(approval_ids))
    counted = {}
    for approval in session.scalars(query.order_by(UseApproval.approved_at).with_for_update()):
        if approval.custodian_user_id in seal.custodian_user_ids:
            counted.setdefault(approval.custodian_user_id, approval)
    if len(counted) < seal.required_approvals:
        raise CustodyApprovalRequired(
            message=f"Seal {seal.serial} is under two-person custody: this manifest needs approvals from "
                    f"{seal.required_approvals} distinct custodians within {int(window.total_seconds() // 60)} "
                    f"minutes; {len(counted)} found.")
    used = list(counted.values())[:seal.required_approvals]
    for approval in used:
        approval.used_at = now
    return [approval.id for approval in used]


def party_of(caller: Caller, seal: Seal, recorded: set[str], of_secrecy_bureau: bool) -> str | None:
    """Which destruction party the caller stands for (the first not yet recorded, if several).
    ``of_secrecy_bureau``: the caller's unit is the secrecy bureau, as the registry says (never
    as the caller claims)."""
    parties = []
    if caller.is_operator:
        parties.append("operator")
    if caller.has("secrecy_officer") and of_secrecy_bureau:
        parties.append("secrecy_bureau")
    if caller.is_admin_of(seal.unit_code):
        parties.append("owning_unit")
    open_parties = [p for p in parties if p not in recorded]
    return (open_parties or parties or [None])[0]


def approve_destruction(session, serial, actor, now, unit_kind) -> dict:
    """Record one party's presence; with the third the seal is destroyed: revoked if it was not,
    and its private key shredded. Signatures made before stay verifiable.

    Three parties are three distinct people: one person holding two of the roles stands for the
    first party they came as, and coming again records nothing more (a retry answers the same).
    A secrecy officer stands for the secrecy bureau (保密局) only if ``unit_kind(unit_code)`` (the
    registry's answer, asked before the seal is locked) says their unit is one."""
    caller = Caller.of(actor)
    of_secrecy_bureau = (caller.has("secrecy_officer") and caller.unit_code is not None
                         and unit_kind(caller.unit_code) == SECRECY_BUREAU_KIND)
    seal = find_seal(session, serial, lock=True)
    present = dict(session.execute(select(DestructionApproval.party, DestructionApproval.user_id)
                                   .where(DestructionApproval.seal_serial == serial)).all())
    recorded = set(present)
    party = party_of(caller, seal, recorded, of_secrecy_bureau)
    if party is None and caller.unit_code != seal.unit_code:
        raise NotFound(message=f"no seal {serial!r}")
    in_person(caller, "stand for a party at a seal's destruction")
    if party is None:
        raise DestructionPartyRequired(message="Destruction needs the operator, the secrecy bureau's officer "
                                               "and the owning unit's admin.")
    if seal.status not in ("active", "revoked"):
        raise InvalidSealState(message=f"seal {serial} is {seal.status}: nothing to destroy")
    if party not in recorded and caller.user_id not in present.values():
        session.add(DestructionApproval(seal_serial=serial, party=party, user_id=caller.user_id, approved_at=now))
        recorded.add(party)
        record(session, now, caller, "seal_destruction_approved", "seal", serial, party=party)
    if recorded >= set(PARTIES):
        if seal.revoked_at is None:
            seal.revoked_at, seal.revoked_by, seal.revocation_reason = now, caller.user_id, "destroyed"
        seal.status, seal.destroyed_at = "destroyed", now
        keys.shred_key(seal)
        signers.SIGNERS.drop(seal.serial)
        record(session, now, caller, "seal_destroyed", "seal", serial, parties=sorted(recorded))
        session.emit("seal_destroyed", seal_view(seal, full=False), at=now)
    return {**seal_view(seal), "destruction": {"recorded": sorted(recorded),
                                               "missing": [p for p in PARTIES if p not in recorded]}}
