"""A unit's contacts: admin, 1–2 clerks, leader, deputy leader, and whether SMS is on.

Every change is filed (备案) with the operator (000 §10, 001 §24). identity owns the users and
their mobiles (one source: the real-name account); the registry keeps who holds each role in
the unit, and asks identity whether they are active users of the unit and, while SMS is on,
whether the leader, the deputy leader and the clerks have a mobile (000 §11).
"""
from gongwen_common.errors import Forbidden, validated
from gongwen_contracts.registry.schemas import ContactsSchema

from ..models import ContactChange, Unit
from .common import acting, announce, caller_of, contacts_view, find_unit, require_active, unit_view
from .errors import MobileRequired, NotUnitMembers, UnitNotFound


def set_contacts(session, code, contacts: dict, now, actor=None, members_with_mobiles=None) -> dict:
    """File (备案) the unit's contacts. Filing the same contacts again is no change: nothing is
    filed or announced. ``members_with_mobiles(unit_code, user_ids)`` is identity's answer:
    ``{user_id: has_mobile}`` for the active users of the unit among ``user_ids``."""
    by = acting(actor)
    data = validated(ContactsSchema(), contacts)
    unit = find_unit(session, code)
    may_file(actor, unit, data)
    require_active(unit)
    filed = _filed(data)
    before = filed_contacts(unit)
    if before == filed:
        return unit_view(unit)
    _check_people(unit.code, filed, members_with_mobiles)
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


def _filed(data: dict) -> dict:
    return {"admin_user_id": data["admin_user_id"], "clerk_user_ids": data["clerk_user_ids"],
            "leader_user_id": data["leader_user_id"], "deputy_leader_user_id": data["deputy_leader_user_id"],
            "sms_enabled": data["sms_enabled"]}


def _check_people(code: str, filed: dict, members_with_mobiles) -> None:
    """Each named user an active user of the unit; while SMS is on, the leader, the deputy leader
    and every clerk with a mobile on their account (000 §11)."""
    if members_with_mobiles is None:
        return  # the foundation's path (command line, demo): no identity to ask yet
    roles = {"admin_user_id": [filed["admin_user_id"]], "clerk_user_ids": filed["clerk_user_ids"],
             "leader_user_id": [filed["leader_user_id"]],
             "deputy_leader_user_id": [filed["deputy_leader_user_id"]] if filed["deputy_leader_user_id"] else []}
    named = sorted({user_id for ids in roles.values() for user_id in ids})
    members = members_with_mobiles(code, named)
    strangers = {field: [f"not an active user of the unit: {user_id}" for user_id in ids if user_id not in members]
                 for field, ids in roles.items()}
    strangers = {field: problems for field, problems in strangers.items() if problems}
    if strangers:
        raise NotUnitMembers(message="Contacts must be active users of the unit.", fields=strangers)
    if filed["sms_enabled"]:
        missing = {field: [f"{user_id} has no mobile on their account (identity)" for user_id in ids
                           if not members[user_id]]
                   for field, ids in roles.items() if field != "admin_user_id"}
        missing = {field: problems for field, problems in missing.items() if problems}
        if missing:
            raise MobileRequired(message="SMS needs the leader's, the deputy leader's and every clerk's mobile "
                                         "number on their accounts.", fields=missing)
