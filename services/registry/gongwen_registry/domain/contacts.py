"""A unit's contacts: admin, 1–2 clerks, leader, their mobiles and whether SMS is on.

Every change is filed (备案) with the operator (000 §10, 001 §24). identity owns the users; the
registry keeps who holds each role in the unit and the numbers SMS reminders go to (000 §11).
"""
from gongwen_common.errors import Forbidden, InvalidPhoneNumber, validated
from gongwen_common.phones import mobile_e164
from gongwen_contracts.registry.schemas import ContactsSchema

from ..models import ContactChange, Unit
from .common import acting, announce, caller_of, contacts_view, find_unit, require_active, unit_view
from .errors import MobileRequired, UnitNotFound


def set_contacts(session, code, contacts: dict, now, actor=None) -> dict:
    """File (备案) the unit's contacts. Filing the same contacts again is no change: nothing is
    filed or announced."""
    by = acting(actor)
    data = validated(ContactsSchema(), contacts)
    unit = find_unit(session, code)
    may_file(actor, unit, data)
    filed = _checked(data)
    require_active(unit)
    before = filed_contacts(unit)
    if before == filed:
        return unit_view(unit)
    for field, value in filed.items():
        setattr(unit, field, value)
    session.add(ContactChange(code=unit.code, before=before, after=filed, filed_by=by.user_id, filed_at=now))
    view = unit_view(unit)
    announce(session, now, by, "contacts_changed", unit.code, {"unit": view, "contacts": filed, "filed_by": by.user_id})
    return view


def may_file(actor, unit: Unit, contacts: dict) -> None:
    """The operator files any unit's contacts; a unit's admin files its own, but switching SMS
    on or off is the operator's approval (000 §11)."""
    caller = caller_of(actor)
    if caller is None or caller.is_operator:
        return
    if caller.unit_code != unit.code:
        raise UnitNotFound(message=f"no unit {unit.code!r}")  # as the gateway answers: not the caller's to see
    if not caller.has("admin"):
        raise Forbidden(message="Only the unit's admin files its contacts.")
    if contacts["sms_enabled"] != bool(unit.sms_enabled):
        raise Forbidden(message="Enabling or disabling SMS needs the operator's approval.")


def filed_contacts(unit: Unit) -> dict | None:
    """The contacts as last filed, in the shape they are filed in; None before the first filing."""
    if unit.admin_user_id is None:
        return None
    return {**contacts_view(unit), "sms_enabled": bool(unit.sms_enabled)}


def _checked(data: dict) -> dict:
    mobiles, invalid = {}, {}
    for user_id, raw in data["mobiles"].items():
        number = mobile_e164(raw)
        if number is None:
            invalid[user_id] = [f"{raw!r} is not a valid mobile number"]
        mobiles[user_id] = number
    if invalid:
        raise InvalidPhoneNumber(message="Some mobile numbers are not valid.", fields={"mobiles": invalid})
    if data["sms_enabled"]:
        # SMS needs the leader's and every clerk's mobile (000 §11).
        missing = {user_id: ["needs a mobile number while SMS is enabled"]
                   for user_id in (data["leader_user_id"], *data["clerk_user_ids"]) if user_id not in mobiles}
        if missing:
            raise MobileRequired(message="SMS needs the leader's and every clerk's mobile number.",
                                 fields={"mobiles": missing})
    return {"admin_user_id": data["admin_user_id"], "clerk_user_ids": data["clerk_user_ids"],
            "leader_user_id": data["leader_user_id"], "mobiles": mobiles, "sms_enabled": data["sms_enabled"]}
