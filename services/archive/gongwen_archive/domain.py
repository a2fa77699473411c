"""Rules of this service, free of nameko and the broker."""
from .models import UnitView


def remember_unit(session, unit: dict, now) -> UnitView:
    """Apply a unit's state from a registry event to the local directory.

    Events of different types travel on different queues and may arrive out of order, so a
    state older than the one held (by the registry's ``version``) is ignored.
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
