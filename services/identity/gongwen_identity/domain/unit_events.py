"""Effects of the registry's unit events on identity beyond keeping its copy of the directory."""
from gongwen_contracts.registry.replica import remember_unit, unit_of

from ..models import UnitView
from . import audit
from .clients import disable_unit_clients
from .users import disable_unit_members


def unit_revoked(session, data: dict, at, now) -> dict:
    """Revocation (003 §10(二), also of the units a merge absorbs): the unit leaves the directory
    and its users and systems are disabled at once, their sessions revoked. Revocation is final,
    so this holds even when the event arrives after a newer state of the unit. ``at``: when the
    registry revoked it (the copy's time); ``now``: identity's clock (when the accounts go)."""
    code = remember_unit(session, UnitView, unit_of(data), at).code
    users = disable_unit_members(session, code, audit.REGISTRY, now)
    clients = disable_unit_clients(session, code, audit.REGISTRY, now)
    return {"unit_code": code, "disabled_users": users, "disabled_clients": clients}
