"""Rules about units as identity knows them (its copy of the directory: ``gongwen_contracts.registry.replica``)."""
from ..models import UnitView
from .errors import UnknownUnit


def require_open_unit(session, code) -> UnitView:
    """The unit must be known here and not revoked; users and clients cannot join it otherwise."""
    view = session.get(UnitView, code) if isinstance(code, str) else None
    if view is None or view.status == "revoked":
        raise UnknownUnit(message=f"no open unit {code!r} is known to identity",
                          fields={"unit_code": ["unknown or revoked unit"]})
    return view
