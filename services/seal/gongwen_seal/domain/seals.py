"""A unit's seal (电子印章): applied by the unit → approved by the operator, which issues the key
pair and certificate → active → revoked | destroyed (000 §19–22, 003 §20–23). A renamed unit's
seal is revoked and a new one applied for under the new name; a revoked unit's seals end."""
import uuid

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from gongwen_common.audit import AuditTrail, Caller

from .. import authority, image
from ..models import AuditRecord, Seal, UnitView
from . import keys, signers
from .errors import (
    Forbidden,
    InvalidCustody,
    InvalidSealImage,
    InvalidSealState,
    NotFound,
    ProxyNotAllowed,
    UnknownUnit,
    ValidationFailed,
)

record = AuditTrail(AuditRecord).record
REGISTRY = "system:registry"
LIVE = ("applied", "active")
MAX_CUSTODIANS = 5


def seal_aad(serial: str) -> bytes:
    return b"seal:" + serial.encode()


def new_serial() -> str:
    # A PrintableString (it is the certificate subject's serialNumber): letters and digits only.
    return "GW" + uuid.uuid4().hex[:14].upper()


def seal_view(seal: Seal, full: bool = True) -> dict:
    view = {"serial": seal.serial, "unit_code": seal.unit_code, "unit_name": seal.unit_name, "status": seal.status,
            "certificate_serial": seal.certificate_serial,
            "not_before": seal.not_before.isoformat() if seal.not_before else None,
            "not_after": seal.not_after.isoformat() if seal.not_after else None,
            "applied_at": seal.applied_at.isoformat(), "approved_at": _iso(seal.approved_at),
            "revoked_at": _iso(seal.revoked_at), "revocation_reason": seal.revocation_reason,
            "destroyed_at": _iso(seal.destroyed_at), "replaces_serial": seal.replaces_serial}
    if full:
        view["custody"] = {"required_approvals": seal.required_approvals,
                           "custodian_user_ids": list(seal.custodian_user_ids)}
        view["image_source"] = seal.image_source
    return view


def _iso(moment):
    return moment.isoformat() if moment else None


def find_seal(session, serial, lock: bool = False) -> Seal:
    seal = session.get(Seal, serial, with_for_update=lock) if isinstance(serial, str) else None
    if seal is None:
        raise NotFound(message=f"no seal {serial!r}")
    return seal


def visible_seal(session, serial, caller: Caller, lock: bool = False) -> Seal:
    """Another unit's seal is 404 (API.md: existence does not leak); the operator sees all."""
    seal = find_seal(session, serial, lock)
    if not (caller.is_operator or caller.unit_code == seal.unit_code):
        raise NotFound(message=f"no seal {serial!r}")
    return seal


def in_person(caller: Caller, what: str) -> None:
    """Custody and key material are personal (003 §22): naming custodians, issuing a seal's key
    and certificate, approving a use and standing at a destruction are never done by a proxy."""
    if caller.by_proxy:
        raise ProxyNotAllowed(message=f"A proxy may not {what}: this is done in person.")


def _custody(custody) -> tuple[int, list[str]]:
    if not isinstance(custody, dict):
        raise ValidationFailed({"custody": ["expected {required_approvals, custodian_user_ids}"]})
    required, custodians = custody.get("required_approvals"), custody.get("custodian_user_ids")
    if required not in (1, 2) or isinstance(required, bool):
        raise ValidationFailed({"custody": {"required_approvals": ["1 or 2"]}})
    if not isinstance(custodians, list) or not all(isinstance(c, str) and 0 < len(c) <= 80 for c in custodians):
        raise ValidationFailed({"custody": {"custodian_user_ids": ["a list of user ids"]}})
    if len(set(custodians)) != len(custodians) or not required <= len(custodians) <= MAX_CUSTODIANS:
        raise InvalidCustody(message=f"{required} approval(s) need at least {required} distinct custodians "
                                     f"(at most {MAX_CUSTODIANS})", fields={"custody": ["not enough custodians"]})
    return required, custodians


def apply(session, unit_code, custody, actor, now, active_members) -> dict:
    """The unit's admin (or the operator) applies for a seal (申请, 003 §20). The custodians must
    be active users of the unit: ``active_members(unit_code, user_ids)`` is identity's answer."""
    caller = Caller.of(actor)
    if not isinstance(unit_code, str) or not (caller.is_operator or caller.unit_code == unit_code):
        raise NotFound(message=f"no unit {unit_code!r}")
    if not (caller.is_operator or caller.is_admin_of(unit_code)):
        raise Forbidden(message="Only the unit's admin or the operator may apply for its seal.")
    in_person(caller, "name a seal's custodians")
    required, custodians = _custody(custody)
    unit = session.get(UnitView, unit_code)
    if unit is None or unit.status != "active":
        raise UnknownUnit(message=f"no active unit {unit_code!r}", fields={"unit_code": ["unknown or not active"]})
    strangers = set(custodians) - set(active_members(unit_code, custodians))
    if strangers:
        # well-formed ids the directory of people refuses: a rule of the domain (422), not the body's shape
        raise InvalidCustody(message="Every custodian must be an active user of the unit.",
                             fields={"custody": {"custodian_user_ids": [
                                 f"not active users of the unit: {sorted(strangers)}"]}})
    live = session.scalar(select(Seal.serial).where(Seal.unit_code == unit_code, Seal.status.in_(LIVE)).limit(1))
    if live is not None:
        raise InvalidSealState(message=f"unit {unit_code!r} already has seal {live}; revoke it first")
    seal = _application(session, unit, required, custodians, caller, now)
    return seal_view(seal)


def _application(session, unit: UnitView, required, custodians, by, now, replaces=None) -> Seal:
    seal = Seal(serial=new_serial(), unit_code=unit.code, unit_name=unit.name, status="applied",
                required_approvals=required, custodian_user_ids=custodians,
                image_png=image.render_seal_png(unit.name), image_source="rendered",
                replaces_serial=replaces, applied_by=Caller.of(by).user_id, applied_at=now)
    session.add(seal)
    session.flush()
    view = seal_view(seal)
    record(session, now, by, "seal_applied", "seal", seal.serial, unit_code=unit.code, replaces=replaces)
    session.emit("seal_applied", view, at=now)
    return seal


def set_image(session, serial, png: bytes, actor, now) -> dict:
    """An uploaded seal image instead of the rendered one, before the seal is issued."""
    caller = Caller.of(actor)
    seal = visible_seal(session, serial, caller, lock=True)
    if not (caller.is_operator or caller.is_admin_of(seal.unit_code)):
        raise Forbidden(message="Only the unit's admin or the operator may change the seal image.")
    if seal.status != "applied":
        raise InvalidSealState(message=f"seal {serial} is {seal.status}: the image is fixed once issued")
    try:
        image.validate_uploaded_png(png)
    except ValueError as exc:
        raise InvalidSealImage(message=f"Not a usable seal image: {exc}") from None
    seal.image_png, seal.image_source = png, "uploaded"
    record(session, now, caller, "seal_image_uploaded", "seal", seal.serial, size=len(png))
    return seal_view(seal)


def approve(session, serial, actor, settings, now) -> dict:
    """The operator approves (审批) and the seal is made: its key pair, generated here and stored
    only wrapped, and its certificate from the operator CA."""
    caller = Caller.of(actor)
    if not caller.is_operator:
        raise Forbidden(message="Only the operator may approve a seal.")
    in_person(caller, "issue a seal's key and certificate")
    seal = find_seal(session, serial, lock=True)
    if seal.status != "applied":
        raise InvalidSealState(message=f"seal {serial} is {seal.status}; only an application can be approved")
    root_key, root_certificate = keys.root_key(session, settings.kek, now)
    private_key = ec.generate_private_key(ec.SECP256R1())
    not_after = min(now + settings.validity, root_certificate.not_valid_after_utc)
    certificate = authority.issue_seal_certificate(
        root_key, root_certificate, unit_code=seal.unit_code, unit_name=seal.unit_name, seal_serial=seal.serial,
        public_key=private_key.public_key(), not_before=now, not_after=not_after)
    keys.store_key(seal, private_key, settings.kek, seal_aad(seal.serial))
    seal.status, seal.approved_by, seal.approved_at = "active", caller.user_id, now
    seal.certificate_pem = authority.certificate_pem(certificate)
    seal.certificate_serial = format(certificate.serial_number, "x")
    seal.not_before, seal.not_after = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    view = seal_view(seal)
    record(session, now, caller, "seal_issued", "seal", seal.serial, certificate_serial=seal.certificate_serial)
    session.emit("seal_issued", {**seal_view(seal, full=False), "certificate_pem": seal.certificate_pem}, at=now)
    return view


def revoke(session, serial, reason, actor, now) -> dict:
    """The operator or the unit's admin revokes the seal (lost, damaged, no longer needed)."""
    caller = Caller.of(actor)
    seal = visible_seal(session, serial, caller, lock=True)
    if not (caller.is_operator or caller.is_admin_of(seal.unit_code)):
        raise Forbidden(message="Only the unit's admin or the operator may revoke its seal.")
    if not isinstance(reason, str) or not 2 <= len(reason.strip()) <= 500:
        raise ValidationFailed({"reason": ["a reason of 2–500 characters is required"]})
    if seal.status not in LIVE:
        raise InvalidSealState(message=f"seal {serial} is already {seal.status}")
    end(session, seal, reason.strip(), caller, now)
    return seal_view(seal)


def end(session, seal: Seal, reason: str, by, now) -> None:
    """Revoke a live seal and announce it; signatures made before ``now`` stay valid."""
    seal.status, seal.revoked_at, seal.revoked_by = "revoked", now, Caller.of(by).user_id
    seal.revocation_reason = reason
    signers.SIGNERS.drop(seal.serial)
    record(session, now, by, "seal_revoked", "seal", seal.serial, reason=reason)
    session.emit("seal_revoked", {**seal_view(seal, full=False), "reason": reason}, at=now)


def on_unit_renamed(session, unit: dict, now) -> list[str]:
    """A renamed unit's seal is returned and a new one made (000 §22, 003 §23): the live seal is
    revoked and an application under the new name awaits the operator, with the same custody.

    Renames may arrive late, twice or out of order (a replayed dead letter, concurrent workers).
    The unit copy holds the newest state applied, by the registry's ``version``; a rename older
    than that is not acted on, and a seal follows the copy's name, never an older event's."""
    view = session.get(UnitView, unit["code"], with_for_update=True, populate_existing=True)
    if view is None or unit.get("version", 0) < view.version or view.status != "active":
        return []
    made = []
    for seal in _live_seals(session, unit["code"]):
        if seal.unit_name == view.name:
            continue  # already under this name (a redelivered event)
        end(session, seal, "unit renamed", REGISTRY, now)
        made.append(_application(session, view, seal.required_approvals, list(seal.custodian_user_ids), REGISTRY,
                                 now, replaces=seal.serial).serial)
    return made


def on_unit_revoked(session, unit: dict, now) -> list[str]:
    ended = []
    for seal in _live_seals(session, unit["code"]):
        end(session, seal, "unit revoked", REGISTRY, now)
        ended.append(seal.serial)
    return ended


def _live_seals(session, unit_code) -> list[Seal]:
    return list(session.scalars(select(Seal).where(Seal.unit_code == unit_code, Seal.status.in_(LIVE))
                                .order_by(Seal.applied_at).with_for_update()))


def get(session, serial, actor) -> dict:
    return seal_view(visible_seal(session, serial, Caller.of(actor)))


def certificate_pem(session, serial) -> str:
    """A seal certificate is public: anyone verifying the unit's documents may fetch it."""
    seal = find_seal(session, serial)
    if seal.certificate_pem is None:
        raise NotFound(message=f"seal {serial} has no certificate yet")
    return seal.certificate_pem


def image_png(session, serial) -> bytes:
    return find_seal(session, serial).image_png


def active_seal_of(session, unit_code) -> Seal | None:
    return session.scalar(select(Seal).where(Seal.unit_code == unit_code, Seal.status == "active").limit(1))
