"""The registry's events (``announce``): each carries the unit's full view with its ``version``,
which ``replica`` applies only if newer."""
from marshmallow import fields, validate

from ..events import EventData
from .schemas import DOCUMENT_POLICIES, UnitSchema


class UnitChangedData(EventData):
    """``unit_approved`` and, with more fields, every later change of a unit: the unit at ``unit``."""

    unit = fields.Nested(UnitSchema, required=True)


class UnitRenamedData(UnitChangedData):
    old_name = fields.String(required=True)
    new_name = fields.String(required=True)


class UnitRevokedData(UnitChangedData):
    reason = fields.String(required=True)
    documents = fields.String(required=True, validate=validate.OneOf(DOCUMENT_POLICIES))
    successor_code = fields.String(allow_none=True)


class UnitMergedData(UnitChangedData):
    from_codes = fields.List(fields.String(), required=True)
    into_code = fields.String(required=True)
    new_unit_created = fields.Boolean(required=True)


class ContactsChangedData(UnitChangedData):
    contacts = fields.Dict(required=True, metadata={"description": "as filed (admin, clerks, leader, SMS switch)"})
    filed_by = fields.String(allow_none=True)


class UnitRegisteredData(UnitSchema, EventData):
    """``unit_registered`` carries the unit view itself (not under ``unit``)."""


EVENTS = {
    "unit_registered": UnitRegisteredData,
    "unit_approved": UnitChangedData,
    "unit_renamed": UnitRenamedData,
    "unit_revoked": UnitRevokedData,
    "unit_merged": UnitMergedData,
    "contacts_changed": ContactsChangedData,
}
