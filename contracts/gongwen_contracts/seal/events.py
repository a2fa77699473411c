"""The seal service's events: a seal's life (applied, issued, revoked, destroyed) and each use."""
from marshmallow import fields, validate

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


class CertificateExpiringData(EventData):
    """A certificate crossed an alert threshold (60, 30, 7 days before it expires): once per
    certificate and threshold. ``certificate``: ``ca`` (the operator's root, no unit) or ``seal``."""

    certificate = fields.String(required=True, validate=validate.OneOf(("ca", "seal")))
    certificate_serial = fields.String(required=True)
    seal_serial = fields.String(allow_none=True)
    unit_code = fields.String(allow_none=True)
    unit_name = fields.String(allow_none=True)
    not_after = fields.DateTime(required=True)
    days_left = fields.Integer(required=True)
    threshold_days = fields.Integer(required=True)


EVENTS = {
    "seal_applied": SealData,
    "seal_issued": SealIssuedData,
    "seal_revoked": SealRevokedData,
    "seal_destroyed": SealData,
    "seal_used": SealUsedData,
    "certificate_expiring": CertificateExpiringData,
}
