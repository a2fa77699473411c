"""HTTP-only schemas: errors, health, list pages, query strings and dead letters. What a service
validates or answers is in its contract (``gongwen_contracts.<service>.schemas``), enumerations
included, and validated there by the service itself; the gateway checks here only its own query
parameters (and, in ``http``, that a body is a JSON object within the limits)."""
from marshmallow import Schema, fields, validate

from gongwen_contracts.exchange.schemas import RECEIPT_STATES, URGENCIES
from gongwen_contracts.identity.schemas import (
    CLIENT_STATUSES,
    PROXY_STATUSES,
    USER_STATUSES,
    ClientInfoSchema,
    ProxyViewSchema,
    UserSchema,
)
from gongwen_contracts.registry.schemas import UnitSchema

from .routes import SERVICES


class ErrorSchema(Schema):
    error = fields.String(required=True, metadata={"example": "VALIDATION_ERROR"})
    message = fields.String(required=True)
    request_id = fields.String(required=True)
    fields_ = fields.Dict(data_key="fields", keys=fields.String(), values=fields.Raw())


class HealthCheckSchema(Schema):
    ok = fields.Boolean()
    value = fields.Raw(metadata={"description": "the figure: a count, seconds, or \"answered\""})
    bound = fields.Raw(allow_none=True, metadata={"description": "the most that passes (null: none)"})
    detail = fields.String()


class CanarySchema(Schema):
    status = fields.String(validate=validate.OneOf(["ok", "failing", "not_configured", "unknown"]))
    detail = fields.String(allow_none=True)
    unit_code = fields.String()
    max_age_seconds = fields.Float(metadata={"description": "failing when no round trip completed within this"})
    last_started_at = fields.DateTime(allow_none=True)
    last_completed_at = fields.DateTime(allow_none=True)
    round_trip_seconds = fields.Float(allow_none=True)
    last_document_id = fields.String(allow_none=True)
    last_outcome = fields.String(allow_none=True, metadata={"description": "completed, failed or not_configured"})
    last_error = fields.String(allow_none=True)
    last_failed_at = fields.DateTime(allow_none=True)


class ServiceHealthSchema(Schema):
    service = fields.String()
    status = fields.String(validate=validate.OneOf(["ok", "degraded", "down"]))
    checks = fields.Dict(keys=fields.String(), values=fields.Nested(HealthCheckSchema), metadata={
        "description": "readiness by name: broker, database, outbox_backlog, outbox_oldest_age, dead_letters_new"})
    database = fields.String()
    instance = fields.String()
    outbox_pending = fields.Integer()
    dead_letters = fields.Integer()
    error = fields.String()
    calendar = fields.Dict(keys=fields.String(), values=fields.String(validate=validate.OneOf(
        ["official", "library", "weekends_only"])), metadata={"description": "exchange only: each year's "
                                                                            "holiday schedule"})
    warnings = fields.List(fields.String(), metadata={"description": "exchange only: what the operator must do"})
    canary = fields.Nested(CanarySchema, metadata={"description": "exchange only: the canary's last round trip"})


class HealthSchema(Schema):
    status = fields.String(validate=validate.OneOf(["ok", "degraded"]))
    services = fields.Dict(keys=fields.String(), values=fields.Nested(ServiceHealthSchema))
    canary = fields.Nested(CanarySchema, metadata={"description": "the canary's last round trip; failing degrades"})


class GatewayReadinessSchema(Schema):
    status = fields.String(validate=validate.OneOf(["ok", "degraded"]))
    broker = fields.String(validate=validate.OneOf(["ok", "down"]),
                           metadata={"description": "this gateway reached RabbitMQ (any node of the cluster)"})


class Page(Schema):
    """A list answer (API.md): ``{"items": [...], "next_cursor": "…" | null}``; subclasses declare ``items``."""

    next_cursor = fields.String(allow_none=True)


class UnitPageSchema(Page):
    items = fields.List(fields.Nested(UnitSchema))


class DeadLetterSchema(Schema):
    id = fields.Integer()
    service = fields.String()
    queue = fields.String()
    event_type = fields.String(allow_none=True)
    event_id = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    dead_at = fields.DateTime()
    replayed_at = fields.DateTime(allow_none=True)
    replay_count = fields.Integer()
    body = fields.Dict()


class DeadLetterListSchema(Schema):
    items = fields.List(fields.Nested(DeadLetterSchema))


class ListQuerySchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None, validate=validate.Length(max=100),
                           metadata={"description": "the next_cursor of the previous page"})


class UnitListQuerySchema(ListQuerySchema):
    q = fields.String(load_default=None, validate=validate.Length(max=100))
    parent = fields.String(load_default=None, validate=validate.Length(max=64))


class InboxQuerySchema(ListQuerySchema):
    state = fields.String(load_default=None, validate=validate.OneOf(RECEIPT_STATES))
    urgency = fields.String(load_default=None, validate=validate.OneOf(URGENCIES))
    since = fields.AwareDateTime(load_default=None, metadata={"description": "RFC 3339 time with offset"})


class PresenceQuerySchema(Schema):
    date = fields.Date(required=True)
    unit = fields.String(load_default=None, validate=validate.Length(max=64))


class DeadLetterQuerySchema(Schema):
    service = fields.String(load_default=None, validate=validate.OneOf(SERVICES))
    include_replayed = fields.Boolean(load_default=False)


class ReceiptPageSchema(Page):
    items = fields.List(fields.Dict(), required=True)


# -- identity listings (API.md "Users": ``?unit=&status=&q=&limit=&cursor=``) ----------------

class PeopleQuerySchema(ListQuerySchema):
    """The filters of GET /users, /units/{code}/clients and /proxies; identity checks them too."""

    unit = fields.String(load_default=None, validate=validate.Length(max=64))
    status = fields.String(load_default=None, validate=validate.OneOf(USER_STATUSES))
    q = fields.String(load_default=None, validate=validate.Length(max=100))


class ProxyQuerySchema(PeopleQuerySchema):
    status = fields.String(load_default=None, validate=validate.OneOf(PROXY_STATUSES))


class ClientQuerySchema(PeopleQuerySchema):
    class Meta:
        exclude = ("unit",)  # the path names the unit

    status = fields.String(load_default=None, validate=validate.OneOf(CLIENT_STATUSES))


class UserPageSchema(Page):
    items = fields.List(fields.Nested(UserSchema), required=True)


class ClientPageSchema(Page):
    items = fields.List(fields.Nested(ClientInfoSchema), required=True)


class ProxyPageSchema(Page):
    items = fields.List(fields.Nested(ProxyViewSchema), required=True)
