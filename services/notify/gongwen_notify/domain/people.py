"""Notify's own copy of the people it may reach (identity's user events) and of each unit's
contacts (the registry's ``contacts_changed``). A person's mobile has one source: the real-name
account in identity; the unit's filing only names who holds which role."""
from ..models import Person, UnitContacts

MASK = "****"


def apply_user(session, user: dict, at) -> bool:
    """Apply one state of a user as of ``at``; an older state than the one held is ignored, and a
    disabled account stays disabled (001 §26: disabled at once, and for good)."""
    if not isinstance(user, dict) or not isinstance(user.get("user_id"), str):
        return False
    person = session.get(Person, user["user_id"], with_for_update=True)
    if person is None:
        person = Person(user_id=user["user_id"])
        session.add(person)
    elif person.updated_at > at or person.status == "disabled":
        return False
    person.name = user.get("name") or person.name or ""
    person.unit_code = user.get("unit_code") or person.unit_code or ""
    person.roles = list(user.get("roles") or person.roles or [])
    person.status = user.get("status") or person.status or "pending"
    if "mobile" in user:
        person.mobile = user.get("mobile")
    person.updated_at = at
    return True


def apply_contacts(session, unit: dict, contacts: dict, at) -> bool:
    """The unit's filed contacts, unless a filing as new (by the registry's version) is held."""
    code, version = unit.get("code"), int(unit.get("version") or 0)
    if not isinstance(code, str) or not isinstance(contacts, dict):
        return False
    held = session.get(UnitContacts, code, with_for_update=True)
    if held is None:
        held = UnitContacts(code=code, version=-1)
        session.add(held)
    if version and held.version >= version:
        return False
    held.admin_user_id = contacts.get("admin_user_id")
    held.clerk_user_ids = list(contacts.get("clerk_user_ids") or [])
    held.leader_user_id = contacts.get("leader_user_id")
    held.deputy_leader_user_id = contacts.get("deputy_leader_user_id")
    held.sms_enabled = bool(contacts.get("sms_enabled", unit.get("sms_enabled")))
    held.version, held.updated_at = version, at
    return True


def audience_of(session, audience: str, recipient_code: str, sender_code: str) -> tuple[str, list[tuple]]:
    """``(unit whose people are meant, [(role, user_id or None)])`` for a step's audience. None as a
    user id: the unit filed nobody for that role (the notification records it)."""
    unit_code = sender_code if audience == "sender_clerks" else recipient_code
    contacts = session.get(UnitContacts, unit_code)
    if contacts is None:
        return unit_code, [(_role(audience), None)]
    if audience in ("recipient_clerks", "sender_clerks"):
        role = "sender_clerk" if audience == "sender_clerks" else "clerk"
        return unit_code, [(role, user_id) for user_id in contacts.clerk_user_ids] or [(role, None)]
    if audience == "recipient_leader":
        # The leader, or the deputy when the unit has no leader on file who can be reached.
        leader = contacts.leader_user_id and session.get(Person, contacts.leader_user_id)
        if (leader is None or not reachable(leader)[0]) and contacts.deputy_leader_user_id:
            return unit_code, [("deputy_leader", contacts.deputy_leader_user_id)]
        return unit_code, [("leader", contacts.leader_user_id)]
    if audience == "recipient_deputy_leader":
        return unit_code, [("deputy_leader", contacts.deputy_leader_user_id)]
    return unit_code, [("admin", contacts.admin_user_id)]


def _role(audience: str) -> str:
    return {"recipient_clerks": "clerk", "sender_clerks": "sender_clerk", "recipient_leader": "leader",
            "recipient_deputy_leader": "deputy_leader", "recipient_admin": "admin"}[audience]


def reachable(person: Person | None) -> tuple[bool, str | None]:
    """Whether a person can be told, else why not."""
    if person is None:
        return False, "unknown_person"
    if person.status != "active":
        return False, f"account_{person.status}"
    if not person.mobile:
        return False, "no_mobile"
    return True, None


def sms_enabled(session, unit_code: str) -> bool:
    contacts = session.get(UnitContacts, unit_code)
    return bool(contacts and contacts.sms_enabled)


def mask(number: str | None) -> str | None:
    """``+86 138****8000``: the country code, the first three and the last four digits."""
    if not number:
        return None
    if number.startswith("+86") and len(number) == 14:
        return f"+86 {number[3:6]}{MASK}{number[-4:]}"
    return f"{number[:4]} {MASK}{number[-4:]}" if len(number) > 8 else MASK

