"""A unit's life: applied → active → revoked, and its renames (003 §8, §10; 002 §18)."""
from sqlalchemy.exc import IntegrityError

from gongwen_common.audit import Acting
from gongwen_common.errors import Forbidden, validated
from gongwen_contracts.registry.schemas import RenameSchema, RevocationSchema, UnitApplicationSchema

from ..models import Unit, UnitName
from .common import acting, announce, caller_of, find_unit, refuse_revoked, require_operator, unit_view
from .errors import (
    InvalidSuccessor,
    NameUnchanged,
    UnitCodeTaken,
    UnitNotApplied,
    UnknownParentUnit,
    UnknownSuccessorUnit,
)


def register_unit(session, application: dict, now, actor=None, active: bool = False) -> dict:
    """Record a unit's application (申请) for the operator to approve, or, when the operator
    registers it, an active unit at once (003 §8, 002 §18)."""
    by = acting(actor)
    data = validated(UnitApplicationSchema(), application)
    may_apply(actor, data, active)
    unit = new_unit(session, data, now, by, active)
    view = unit_view(unit)
    # Consumers read this event's data as the unit itself: keep it the bare view.
    announce(session, now, by, "unit_registered", unit.code, view)
    return view


def may_apply(actor, application: dict, active: bool) -> None:
    """The operator files any application and may register a unit active at once; a unit admin
    applies only for a unit under its own unit, for the operator to approve."""
    caller = caller_of(actor)
    if caller is None or caller.is_operator:
        return
    if active:
        raise Forbidden(message="Only the operator registers an active unit; others apply.")
    if not caller.has("admin") or application.get("parent_code") != caller.unit_code:
        raise Forbidden(message="A unit admin may apply only for a unit under their own unit.")


def new_unit(session, data: dict, now, by: Acting, active: bool) -> Unit:
    """Add a checked unit; refuses before adding anything, so callers may rely on all-or-nothing."""
    if session.get(Unit, data["code"]) is not None:
        raise UnitCodeTaken(message=f"unit code {data['code']!r} is already registered")
    if data.get("parent_code") and session.get(Unit, data["parent_code"]) is None:
        raise UnknownParentUnit(message=f"no unit {data['parent_code']!r} to be the parent",
                                fields={"parent_code": ["unknown unit"]})
    unit = Unit(**data, status="active" if active else "applied", created_at=now, registered_by=by.user_id,
                approved_at=now if active else None, approved_by=by.user_id if active else None,
                sms_enabled=False, name_history=[])
    session.add(unit)
    try:
        session.flush()
    except IntegrityError:
        # Lost a race with a concurrent registration of the same code (its insert committed first).
        raise UnitCodeTaken(message=f"unit code {data['code']!r} is already registered") from None
    return unit


def approve_unit(session, code, now, actor=None) -> dict:
    """The operator approves an application: the unit becomes active (审批)."""
    by = acting(actor)
    require_operator(actor, "approve a unit")
    unit = find_unit(session, code)
    if unit.status != "applied":
        raise UnitNotApplied(message=f"unit {code!r} is {unit.status}; only an application can be approved")
    unit.status, unit.approved_at, unit.approved_by = "active", now, by.user_id
    view = unit_view(unit)
    announce(session, now, by, "unit_approved", unit.code, {"unit": view})
    return view


def rename_unit(session, code, request: dict, now, actor=None) -> dict:
    """Rename (更名): the old name goes to the history with the time it was borne (000 §22)."""
    by = acting(actor)
    require_operator(actor, "rename a unit")
    new_name = validated(RenameSchema(), request)["name"]
    unit = find_unit(session, code)
    refuse_revoked(unit)
    if new_name == unit.name:
        raise NameUnchanged(message="The unit already bears this name.", fields={"name": ["the current name"]})
    old_name = unit.name
    borne_since = unit.name_history[-1].valid_to if unit.name_history else unit.created_at
    unit.name_history.append(UnitName(code=unit.code, name=old_name, valid_from=borne_since, valid_to=now,
                                      changed_by=by.user_id))
    unit.name = new_name
    view = unit_view(unit)
    announce(session, now, by, "unit_renamed", unit.code, {"unit": view, "old_name": old_name, "new_name": new_name})
    return view


def revoke_unit(session, code, decision: dict, now, actor=None) -> dict:
    """Revoke (撤销) a unit as the revoking decision says: reason, what becomes of its documents
    (keep, transfer to a successor, archive) (003 §10(二)). It leaves the directory. Revoking an
    application is how the operator turns it down."""
    by = acting(actor)
    require_operator(actor, "revoke a unit")
    data = validated(RevocationSchema(), decision)
    unit = find_unit(session, code)
    refuse_revoked(unit)
    if data["successor_code"] is not None:
        check_successor(session, unit, data["successor_code"])
    return revoke(session, unit, data["reason"], data["documents"], data["successor_code"], now, by)


def check_successor(session, unit: Unit, successor_code: str) -> None:
    if successor_code == unit.code:
        raise InvalidSuccessor(message="a unit cannot succeed itself", fields={"successor_code": ["the unit itself"]})
    # Shared lock: the successor cannot be revoked under us before this revocation commits.
    successor = session.get(Unit, successor_code, with_for_update={"read": True})
    if successor is None:
        raise UnknownSuccessorUnit(message=f"no unit {successor_code!r} to be the successor",
                                   fields={"successor_code": ["unknown unit"]})
    if successor.status != "active":
        raise InvalidSuccessor(message=f"successor {successor_code!r} is {successor.status}, not active",
                               fields={"successor_code": [f"unit is {successor.status}"]})


def revoke(session, unit: Unit, reason: str, documents: str, successor_code: str | None, now, by: Acting) -> dict:
    """Apply an already checked revocation and announce it."""
    unit.status, unit.revoked_at, unit.revoked_by = "revoked", now, by.user_id
    unit.revocation_reason, unit.documents_policy, unit.successor_code = reason, documents, successor_code
    view = unit_view(unit)
    announce(session, now, by, "unit_revoked", unit.code, {"unit": view, "reason": reason, "documents": documents,
                                                           "successor_code": successor_code})
    return view
