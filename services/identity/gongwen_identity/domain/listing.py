"""Listings (API.md "Lists"): ``?unit=&status=&q=&limit=&cursor=`` → ``{"items", "next_cursor"}``.

The operator sees every unit's; anyone else who may list sees their own unit's only, and a
filter on another unit finds nothing rather than saying whether it has any.
"""
from sqlalchemy import false, true

from .actors import Actor, require_unit_manager
from .errors import ValidationFailed

MAX_LIMIT = 200


def unit_filter(actor: Actor, unit, column):
    """The rows the actor may list: any unit's (or the asked one's) for the operator, only the
    actor's own otherwise, and none at all when another unit is asked for."""
    if unit is not None and (not isinstance(unit, str) or len(unit) > 64):
        raise ValidationFailed({"unit": ["a unit code"]})
    if actor.is_operator:
        return column == unit if unit else true()
    require_unit_manager(actor, actor.unit_code)
    return column == actor.unit_code if unit in (None, "", actor.unit_code) else false()


def checked(status, statuses, q, limit, cursor) -> tuple:
    """(status, q, limit, cursor) checked: a bad filter is a 400, not an empty or a failed page."""
    errors = {}
    if status is not None and status not in statuses:
        errors["status"] = [f"one of {', '.join(statuses)}"]
    if q is not None and (not isinstance(q, str) or len(q) > 100):
        errors["q"] = ["at most 100 characters"]
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        errors["limit"] = [f"between 1 and {MAX_LIMIT}"]
    if cursor is not None and (not isinstance(cursor, str) or len(cursor) > 100):
        errors["cursor"] = ["the next_cursor of the previous page"]
    if errors:
        raise ValidationFailed(errors)
    return status, (q or None), limit, (cursor or None)


def page(session, query, key, limit: int, cursor, view) -> dict:
    """One page of ``query`` ordered by the unique column ``key``; the cursor is the last key."""
    if cursor is not None:
        query = query.where(key > cursor)
    rows = list(session.scalars(query.order_by(key).limit(limit + 1)))
    shown = rows[:limit]
    return {"items": [view(row) for row in shown],
            "next_cursor": getattr(shown[-1], key.key) if len(rows) > limit else None}
