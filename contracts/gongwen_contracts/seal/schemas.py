"""Request and response shapes of the seal service (API.md "Seals"): the seal service validates
each request with these schemas (once: the gateway forwards bodies as they come), the gateway
documents them."""
from marshmallow import Schema, fields, validate


class CustodySchema(Schema):
    required_approvals = fields.Integer(required=True, validate=validate.OneOf((1, 2)),
                                        metadata={"description": "2 = two-person custody (双人保管)"})
    custodian_user_ids = fields.List(fields.String(validate=validate.Length(min=1, max=80)), required=True,
                                     validate=validate.Length(min=1, max=5))


class SealApplicationSchema(Schema):
    unit_code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    custody = fields.Nested(CustodySchema, required=True)


class SealSchema(Schema):
    serial = fields.String(required=True)
    unit_code = fields.String(required=True)
    unit_name = fields.String()
    status = fields.String(metadata={"description": "applied | active | revoked | destroyed"})
    certificate_serial = fields.String(allow_none=True)
    not_before = fields.String(allow_none=True)
    not_after = fields.String(allow_none=True)
    applied_at = fields.String()
    approved_at = fields.String(allow_none=True)
    revoked_at = fields.String(allow_none=True)
    revocation_reason = fields.String(allow_none=True)
    destroyed_at = fields.String(allow_none=True)
    replaces_serial = fields.String(allow_none=True)
    custody = fields.Nested(CustodySchema)
    image_source = fields.String()


class SealRevocationSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=2, max=500))


class UseApprovalRequestSchema(Schema):
    manifest_sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))


class UseApprovalSchema(Schema):
    approval_id = fields.String(required=True)
    seal_serial = fields.String()
    manifest_sha256 = fields.String()
    custodian_user_id = fields.String()
    approved_at = fields.String()
    expires_at = fields.String()


class DestructionSchema(SealSchema):
    destruction = fields.Dict(metadata={"description": "{recorded: [parties], missing: [parties]}"})


class SealingSchema(Schema):
    signature = fields.String(required=True, metadata={"description": "base64 of the detached CMS SignedData (DER)"})
    seal_serial = fields.String(required=True)
    manifest_sha256 = fields.String(required=True)
    signed_at = fields.String(required=True)
    approvals_used = fields.List(fields.String())


class VerificationSchema(Schema):
    valid = fields.Boolean(required=True)
    reason = fields.String(allow_none=True, metadata={
        "description": "SIGNATURE_INVALID | DIGEST_MISMATCH | SEAL_REVOKED | UNKNOWN_ISSUER | UNIT_MISMATCH | "
                       "CERT_EXPIRED | MALFORMED_SIGNATURE"})
    unit_code = fields.String(allow_none=True)
    seal_serial = fields.String(allow_none=True)
    signed_at = fields.String(allow_none=True)
    seal_status = fields.String(allow_none=True, metadata={"description": "the seal's status now (e.g. destroyed "
                                                                          "since, yet valid at signing time)"})
    seal_status_since = fields.String(allow_none=True)
    manifest_sha256 = fields.String(allow_none=True)
