"""Notifications (notify): the proof of who was told of a document (001 §21), the escalation
policies (the operator's defaults, a unit admin's tightening) and the SMS templates. notify
decides who may see and change what; these routes only forward."""
from gongwen_contracts.notify.schemas import (
    PLACEHOLDERS,
    URGENCIES,
    NotificationListSchema,
    PolicySchema,
    PolicyViewSchema,
    TemplateSchema,
    TemplateViewSchema,
    UnitPolicySchema,
    UnitPolicyViewSchema,
)

from ..auth import ANY_ROLE
from ..http import api
from . import OPERATOR, OPERATOR_OR_ADMIN

URGENCY_PATH = {"urgency": {"enum": list(URGENCIES)}}
TEMPLATE_PATH = {"name": {"enum": sorted(PLACEHOLDERS)}}


class NotifyRoutes:
    @api("GET", "/api/v1/documents/<document_id>/notifications", summary="Who was told of the document, when, "
         "by which channel, and the outcome (the sender: every recipient unit's; a recipient: its own)",
         tag="notifications", response_schema=NotificationListSchema, roles=ANY_ROLE, errors=(404, 503))
    def document_notifications(self, request, document_id, actor):
        return 200, self.call("notify", "document_notifications", document_id, actor)

    @api("GET", "/api/v1/notify/policies/<urgency>", summary="The default escalation policy of an urgency",
         tag="notifications", response_schema=PolicyViewSchema, path=URGENCY_PATH, roles=OPERATOR,
         errors=(404, 503))
    def get_policy(self, request, urgency, actor):
        return 200, self.call("notify", "get_policy", urgency, actor)

    @api("PUT", "/api/v1/notify/policies/<urgency>", summary="Set the default escalation policy of an urgency",
         tag="notifications", request_schema=PolicySchema, response_schema=PolicyViewSchema, path=URGENCY_PATH,
         roles=OPERATOR, errors=(400, 404, 503))
    def put_policy(self, request, urgency, body, actor):
        return 200, self.call("notify", "put_policy", urgency, body, actor)

    @api("GET", "/api/v1/units/<code>/notify-policy", summary="The unit's escalation policies (its own where "
         "tighter than the default)", tag="notifications", response_schema=UnitPolicyViewSchema,
         roles=OPERATOR_OR_ADMIN, errors=(404, 503))
    def get_unit_policy(self, request, code, actor):
        return 200, self.call("notify", "get_unit_policy", code, actor)

    @api("PUT", "/api/v1/units/<code>/notify-policy", summary="Tighten (never loosen) the unit's own escalation "
         "policies", tag="notifications", request_schema=UnitPolicySchema, response_schema=UnitPolicyViewSchema,
         roles=("admin",), errors=(400, 404, 422, 503))
    def put_unit_policy(self, request, code, body, actor):
        return 200, self.call("notify", "put_unit_policy", code, body, actor)

    @api("GET", "/api/v1/notify/templates/<name>", summary="An SMS or call template and whether it is approved",
         tag="notifications", response_schema=TemplateViewSchema, path=TEMPLATE_PATH, roles=OPERATOR,
         errors=(404, 503))
    def get_template(self, request, name, actor):
        return 200, self.call("notify", "get_template", name, actor)

    @api("PUT", "/api/v1/notify/templates/<name>", summary="Edit and approve a template (only approved ones "
         "are sent)", tag="notifications", request_schema=TemplateSchema, response_schema=TemplateViewSchema,
         path=TEMPLATE_PATH, roles=OPERATOR, errors=(400, 404, 503))
    def put_template(self, request, name, body, actor):
        return 200, self.call("notify", "put_template", name, body, actor)
