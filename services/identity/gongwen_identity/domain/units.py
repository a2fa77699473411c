"""The unit read model (单位目录副本), fed by the registry's events."""
from ..models import UnitView
from .errors import UnknownUnit


def unit_of(data: dict) -> dict:
    """``unit_registered`` carries the unit view itself; later unit events carry it at ``unit``."""
    return data["unit"] if isinstance(data.get("unit"), dict) else data


def remember_unit(session, unit: dict, now) -> UnitView:
    """Apply a unit's state from a registry event to the local directory.

    Each event type has its own queue, so events may arrive out of order: a state older than the
    one held (by the registry's ``version``) is ignored. ``revision`` counts applied states.
    """
    view = session.get(UnitView, unit["code"])
    version = unit.get("version", 0)
    if view is None:
        view = UnitView(code=unit["code"], version=0, revision=0)
        session.add(view)
    elif version and version <= view.version:
        return view
    view.name, view.status, view.version, view.updated_at = unit["name"], unit["status"], version, now
    view.revision += 1
    return view


def require_open_unit(session, code) -> UnitView:
    """The unit must be known here and not revoked; users and clients cannot join it otherwise."""
    view = session.get(UnitView, code) if isinstance(code, str) else None
    if view is None or view.status == "revoked":
        raise UnknownUnit(message=f"no open unit {code!r} is known to identity",
                          fields={"unit_code": ["unknown or revoked unit"]})
    return view
