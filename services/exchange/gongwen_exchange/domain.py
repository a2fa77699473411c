"""Rules of this service, free of nameko and the broker."""
from .models import UnitView


def remember_unit(session, unit: dict, now) -> UnitView:
    """Apply a unit event to the local directory; ``revision`` counts applied events."""
    view = session.get(UnitView, unit["code"])
    if view is None:
        view = UnitView(code=unit["code"], revision=0)
        session.add(view)
    view.name, view.status, view.updated_at = unit["name"], unit["status"], now
    view.revision += 1
    return view
