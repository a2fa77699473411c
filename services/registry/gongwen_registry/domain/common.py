"""What every rule needs: who acts and what they may do, validated input, the unit in question
and its view."""
from sqlalchemy.orm import object_session

from gongwen_common.audit import Acting, AuditTrail, Caller
from gongwen_common.errors import Forbidden, validated
from gongwen_contracts.registry.schemas import ActorSchema, UnitSchema

from ..models import AuditRecord, Unit
from .errors import UnitNotApproved, UnitNotFound, UnitRevoked

SYSTEM_ACTOR = "system"
record = AuditTrail(AuditRecord).record
_UNIT_SCHEMA = UnitSchema()


def acting(actor) -> Acting:
    """Who acts: the user (or ``system`` on the foundation's unauthenticated path) and the proxy
    acting for them, if any."""
    if actor is None:
        return Acting(SYSTEM_ACTOR)
    data = validated(ActorSchema(), actor, under="actor")
    return Acting(data["user_id"], data.get("proxy_user_id"))


def caller_of(actor) -> Caller | None:
    """The caller's unit and roles as the gateway vouches for them (``actor_of``); None on the
    foundation's unauthenticated path (the command line, the demo), which acts as the system."""
    return None if actor is None else Caller.of(actor)


def require_operator(actor, what: str) -> None:
    """The directory's changes are the operator's (003 §8, §10), whoever calls the registry."""
    caller = caller_of(actor)
    if caller is not None and not caller.is_operator:
        raise Forbidden(message=f"Only the operator may {what}.")


def announce(session, now, by: Acting, event_type: str, code: str, data: dict) -> None:
    """A change's event (through the outbox) and its audit record, in the change's transaction."""
    record(session, now, by, event_type, "unit", code, **data)
    session.emit(event_type, data, at=now)


def find_unit(session, code) -> Unit:
    """The unit, locked for this transaction so two changes to it cannot interleave."""
    unit = session.get(Unit, code, with_for_update=True) if isinstance(code, str) else None
    if unit is None:
        raise UnitNotFound(message=f"no unit {code!r}")
    return unit


def refuse_revoked(unit: Unit) -> None:
    if unit.status == "revoked":
        raise UnitRevoked(message=f"unit {unit.code!r} was revoked")


def require_active(unit: Unit) -> None:
    refuse_revoked(unit)
    if unit.status != "active":
        raise UnitNotApproved(message=f"unit {unit.code!r} has not been approved yet")


def contacts_view(unit: Unit) -> dict:
    return {"admin_user_id": unit.admin_user_id, "clerk_user_ids": list(unit.clerk_user_ids or []),
            "leader_user_id": unit.leader_user_id, "deputy_leader_user_id": unit.deputy_leader_user_id}


def unit_view(unit: Unit) -> dict:
    """The unit as every RPC answers and every event carries it."""
    session = object_session(unit)
    if session is not None and (unit in session.dirty or unit in session.new):
        session.flush()  # the version is assigned at flush: the view must carry the new one
    revocation = None
    if unit.status == "revoked":
        revocation = {"reason": unit.revocation_reason, "documents": unit.documents_policy,
                      "successor_code": unit.successor_code, "revoked_at": unit.revoked_at,
                      "revoked_by": unit.revoked_by}
    return _UNIT_SCHEMA.dump({
        "code": unit.code, "name": unit.name, "kind": unit.kind, "parent_code": unit.parent_code,
        "status": unit.status, "former_names": [former.name for former in unit.name_history],
        "sms_enabled": bool(unit.sms_enabled), "contacts": contacts_view(unit), "revocation": revocation,
        "created_at": unit.created_at, "version": unit.version,
    })
