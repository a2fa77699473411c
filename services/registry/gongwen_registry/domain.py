"""Unit rules, free of nameko and the broker."""
from marshmallow import ValidationError

from gongwen_common.errors import Conflict, DomainError, ValidationFailed

from .models import Unit
from .schemas import UnitApplicationSchema, UnitSchema


class UnitCodeTaken(Conflict):
    code = "UNIT_CODE_TAKEN"


class UnknownParentUnit(DomainError):
    code, status = "UNKNOWN_PARENT_UNIT", 422


def unit_view(unit: Unit) -> dict:
    return UnitSchema().dump({
        "code": unit.code, "name": unit.name, "kind": unit.kind, "parent_code": unit.parent_code,
        "status": unit.status, "former_names": [], "sms_enabled": False, "created_at": unit.created_at,
    })


def register_unit(session, application: dict, now) -> Unit:
    """Record a unit's application (申请); the operator approves it later (003 §8, 002 §18)."""
    try:
        data = UnitApplicationSchema().load(application)
    except ValidationError as exc:
        raise ValidationFailed(exc.normalized_messages()) from None
    if session.get(Unit, data["code"]) is not None:
        raise UnitCodeTaken(message=f"unit code {data['code']!r} is already registered")
    if data["parent_code"] and session.get(Unit, data["parent_code"]) is None:
        raise UnknownParentUnit(message=f"no unit {data['parent_code']!r} to be the parent",
                                fields={"parent_code": ["unknown unit"]})
    unit = Unit(status="applied", created_at=now, **data)
    session.add(unit)
    session.flush()
    return unit
