"""The unit directory (单位目录) and bulk look-ups for other services."""
from sqlalchemy import select

from gongwen_common.errors import validated
from gongwen_contracts.registry.schemas import ResolveSchema

from ..models import Unit
from .common import unit_view
from .errors import UnitNotFound


def get_unit(session, code, actor=None) -> dict:
    """One unit, revoked ones included (they stay readable, with their revocation). Contacts name
    users only: their mobiles are their accounts' (identity), never in the directory."""
    unit = session.get(Unit, code) if isinstance(code, str) else None
    if unit is None:
        raise UnitNotFound(message=f"no unit {code!r}")
    return unit_view(unit)


def list_units(session, q=None, parent=None, limit=50, cursor=None, include_revoked=False, actor=None) -> dict:
    """A directory page ordered by code; ``cursor`` is the last code of the previous page.
    Revoked units leave the directory (003 §10(二)) unless asked for."""
    query = select(Unit).order_by(Unit.code).limit(limit + 1)
    if not include_revoked:
        query = query.where(Unit.status != "revoked")
    if q:
        query = query.where(Unit.name.contains(q))
    if parent:
        query = query.where(Unit.parent_code == parent)
    if cursor:
        query = query.where(Unit.code > cursor)
    units = list(session.scalars(query))
    page = units[:limit]
    return {"items": [unit_view(unit) for unit in page],
            "next_cursor": page[-1].code if len(units) > limit else None}


def resolve_units(session, codes, actor=None) -> dict:
    """Many units by code in one query, e.g. a document's recipients for the exchange.

    ``units`` has every known unit (revoked ones too, with their successor); ``missing`` the
    unknown codes; ``inactive`` the known ones that cannot receive (applied or revoked).
    """
    wanted = list(dict.fromkeys(validated(ResolveSchema(), {"codes": codes})["codes"]))
    # ResolveSchema caps the list at 1,000 codes: one IN list, well inside SQLite's 32,766 and
    # PostgreSQL's 65,535 bound parameters, so there is nothing to chunk.
    found = {unit.code: unit for unit in session.scalars(select(Unit).where(Unit.code.in_(wanted)))}
    return {"units": {code: unit_view(found[code]) for code in wanted if code in found},
            "missing": [code for code in wanted if code not in found],
            "inactive": [code for code in wanted if code in found and found[code].status != "active"]}
