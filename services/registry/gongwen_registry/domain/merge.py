"""Merge (合并, 003 §10(三)): the merged unit keeps one old name and that unit stays, the others
are revoked; or it takes a new name, registers anew, and all old units are revoked. Either way
the revoked units' documents are transferred to the merged unit."""
from gongwen_common.errors import validated
from gongwen_contracts.registry.schemas import MergeSchema

from ..models import UnitMerge
from .common import acting, announce, find_unit, refuse_revoked, require_active, require_operator, unit_view
from .errors import MergeIntoSelf
from .lifecycle import new_unit, revoke


def merge_units(session, request: dict, now, actor=None) -> dict:
    by = acting(actor)
    require_operator(actor, "merge units")
    data = validated(MergeSchema(), request)
    from_codes, new = data["from_codes"], data["new"]
    into_code = new["code"] if new else data["into_code"]
    if new is None and set(from_codes) == {into_code}:
        raise MergeIntoSelf(message=f"unit {into_code!r} cannot be merged into itself",
                            fields={"into_code": ["the only unit to merge"]})

    # Every check comes before the first change, so a refused merge leaves every unit as it was.
    # Locks are taken in code order so two overlapping merges cannot deadlock each other.
    involved = sorted(set(from_codes) | ({into_code} if new is None else set()))
    units = {code: find_unit(session, code) for code in involved}
    for code in from_codes:
        refuse_revoked(units[code])
    if new is None:
        require_active(units[into_code])
        into = units[into_code]
    else:
        into = new_unit(session, new, now, by, active=True)
        announce(session, now, by, "unit_registered", into.code, unit_view(into))

    reason = f"merged into {into_code}"
    for code in from_codes:
        if code != into_code:
            revoke(session, units[code], reason, "transfer", into_code, now, by)
    session.add(UnitMerge(into_code=into_code, from_codes=from_codes, new_unit_created=new is not None,
                          merged_at=now, merged_by=by.user_id))
    merged = {"from_codes": from_codes, "into_code": into_code, "new_unit_created": new is not None,
              "unit": unit_view(into)}
    announce(session, now, by, "unit_merged", into_code, merged)
    return merged
