from marshmallow import Schema, fields, validate

UNIT_KINDS = ("government", "department", "district", "public_body", "enterprise", "operator")
UNIT_STATUSES = ("applied", "active", "revoked")


class UnitApplicationSchema(Schema):
    """What an applicant unit submits (POST /api/v1/units)."""

    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$"),
                         metadata={"description": "stable unit code", "example": "gz-fgw"})
    name = fields.String(required=True, validate=validate.Length(min=2, max=200),
                         metadata={"example": "广州市发展和改革委员会"})
    kind = fields.String(required=True, validate=validate.OneOf(UNIT_KINDS))
    parent_code = fields.String(load_default=None, allow_none=True)


class UnitSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    parent_code = fields.String(allow_none=True)
    status = fields.String(validate=validate.OneOf(UNIT_STATUSES))
    former_names = fields.List(fields.String())
    sms_enabled = fields.Boolean()
    created_at = fields.DateTime()
