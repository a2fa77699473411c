"""Unit rules, free of nameko and the broker. Each change is announced through the session's
outbox (``session.emit``) in the same transaction, with the full unit view after the change.
The refusals are in :mod:`.errors`."""
from .common import unit_view
from .contacts import set_contacts
from .directory import get_unit, list_units, resolve_units
from .lifecycle import approve_unit, register_unit, rename_unit, revoke_unit
from .merge import merge_units

__all__ = ["approve_unit", "get_unit", "list_units", "merge_units", "register_unit",
           "rename_unit", "resolve_units", "revoke_unit", "set_contacts", "unit_view"]
