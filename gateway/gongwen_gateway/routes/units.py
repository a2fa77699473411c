"""Units (registry): applications, the directory, renames, revocations, merges and contacts (备案)."""
from gongwen_contracts.registry.schemas import (
    ContactsSchema,
    MergeSchema,
    RenameSchema,
    RevocationSchema,
    UnitApplicationSchema,
    UnitSchema,
)

from ..auth import ANY_ROLE
from ..http import api
from ..schemas import UnitListQuerySchema, UnitPageSchema
from . import OPERATOR, OPERATOR_OR_ADMIN


class UnitRoutes:
    @api("POST", "/api/v1/units", summary="Apply to register a unit (使用单位)", tag="units",
         request_schema=UnitApplicationSchema, response_schema=UnitSchema, status=201, idempotent=True,
         roles=OPERATOR_OR_ADMIN, errors=(400, 409, 413, 422, 503))
    def register_unit(self, request, body, actor, idempotency_key):
        """The operator files any application; a unit admin applies for a unit under their own (the
        registry's rule)."""
        return 201, self.call("registry", "register_unit", body, actor=actor, idempotency_key=idempotency_key)

    @api("GET", "/api/v1/units", summary="Unit directory", tag="units", response_schema=UnitPageSchema,
         query=UnitListQuerySchema, roles=ANY_ROLE, errors=(400, 503))
    def list_units(self, request, actor, query):
        """Contacts name users; their mobiles are their accounts' (identity), never in the directory."""
        return 200, self.call("registry", "list_units", actor=actor, **query)

    @api("GET", "/api/v1/units/<code>", summary="One unit", tag="units", response_schema=UnitSchema,
         roles=ANY_ROLE, errors=(404, 503))
    def get_unit(self, request, code, actor):
        return 200, self.call("registry", "get_unit", code, actor=actor)

    @api("POST", "/api/v1/units/<code>/approve", summary="Approve a unit's application", tag="units",
         response_schema=UnitSchema, roles=OPERATOR, errors=(404, 409, 503))
    def approve_unit(self, request, code, actor):
        return 200, self.call("registry", "approve_unit", code, actor=actor)

    @api("POST", "/api/v1/units/<code>/rename", summary="Rename a unit (the old name stays in its history)",
         tag="units", request_schema=RenameSchema, response_schema=UnitSchema, roles=OPERATOR,
         errors=(400, 404, 409, 503))
    def rename_unit(self, request, code, body, actor):
        return 200, self.call("registry", "rename_unit", code, body, actor=actor)

    @api("POST", "/api/v1/units/<code>/revoke", summary="Revoke a unit (撤销) and say what becomes of its documents",
         tag="units", request_schema=RevocationSchema, response_schema=UnitSchema, roles=OPERATOR,
         errors=(400, 404, 409, 422, 503))
    def revoke_unit(self, request, code, body, actor):
        return 200, self.call("registry", "revoke_unit", code, body, actor=actor)

    @api("POST", "/api/v1/units/merge", summary="Merge units (合并) into one of them or into a new unit",
         tag="units", request_schema=MergeSchema, idempotent=True, roles=OPERATOR, errors=(400, 404, 409, 422, 503))
    def merge_units(self, request, body, actor, idempotency_key):
        return 200, self.call("registry", "merge_units", body, actor=actor, idempotency_key=idempotency_key)

    @api("PUT", "/api/v1/units/<code>/contacts", summary="File the unit's admin, clerks and leaders (备案)",
         tag="units", request_schema=ContactsSchema, response_schema=UnitSchema, roles=OPERATOR_OR_ADMIN,
         errors=(400, 404, 409, 422, 503))
    def set_contacts(self, request, code, body, actor):
        """A unit's admin files its own contacts; switching SMS on or off is the operator's approval
        (the registry's rules)."""
        return 200, self.call("registry", "set_contacts", code, body, actor=actor)
