"""The seal service's events: a seal's life (applied, issued, revoked, destroyed) and each use."""
from marshmallow import fields

from ..events import EventData
from .schemas import SealSchema


class SealData(SealSchema, EventData):
    """A seal as ``GET /seals/{serial}`` shows it (without custody and image source but at
    ``seal_applied``)."""


class SealIssuedData(SealData):
    certificate_pem = fields.String(required=True)


class SealRevokedData(SealData):
    reason = fields.String(required=True)


class SealUsedData(EventData):
    seal_serial = fields.String(required=True)
    unit_code = fields.String(required=True)
    manifest_sha256 = fields.String(required=True)
    signed_at = fields.DateTime(required=True)
    signed_by = fields.String(required=True)
    proxy_user_id = fields.String(allow_none=True)


EVENTS = {
    "seal_applied": SealData,
    "seal_issued": SealIssuedData,
    "seal_revoked": SealRevokedData,
    "seal_destroyed": SealData,
    "seal_used": SealUsedData,
}
