"""Users (identity): real-name accounts, U_Keys, proxies (代理人) and units' system clients."""
from gongwen_contracts.identity.schemas import (
    ClientSchema,
    DeviceSchema,
    DisableSchema,
    MobileSchema,
    NewUserSchema,
    ProxySchema,
    ResetPasswordSchema,
    UserSchema,
)

from ..auth import ANY_ROLE
from ..http import api
from ..schemas import (
    ClientPageSchema,
    ClientQuerySchema,
    PeopleQuerySchema,
    ProxyPageSchema,
    ProxyQuerySchema,
    UserPageSchema,
)
from . import OPERATOR, OPERATOR_OR_ADMIN


class UserRoutes:
    @api("POST", "/api/v1/users", summary="Request (admin) or create (operator) a real-name account", tag="users",
         request_schema=NewUserSchema, response_schema=UserSchema, status=201, idempotent=True,
         roles=OPERATOR_OR_ADMIN, errors=(400, 404, 409, 422, 503))
    def create_user(self, request, body, actor, idempotency_key):
        return 201, self.call("identity", "create_user", body, actor, idempotency_key=idempotency_key)

    @api("POST", "/api/v1/users/<user_id>/approve", summary="Approve a requested account", tag="users",
         response_schema=UserSchema, roles=OPERATOR, errors=(404, 409, 503))
    def approve_user(self, request, user_id, actor):
        return 200, self.call("identity", "approve_user", user_id, actor)

    @api("POST", "/api/v1/users/<user_id>/disable", summary="Disable an account at once", tag="users",
         request_schema=DisableSchema, response_schema=UserSchema, roles=OPERATOR_OR_ADMIN,
         errors=(400, 404, 409, 503))
    def disable_user(self, request, user_id, body, actor):
        return 200, self.call("identity", "disable_user", user_id, actor, body)

    @api("PUT", "/api/v1/users/<user_id>/mobile", summary="Change the account's mobile (the number SMS "
         "reminders use)", tag="users", request_schema=MobileSchema, response_schema=UserSchema,
         roles=OPERATOR_OR_ADMIN, errors=(400, 404, 409, 422, 503))
    def change_mobile(self, request, user_id, body, actor):
        return 200, self.call("identity", "change_mobile", user_id, body, actor)

    @api("POST", "/api/v1/users/<user_id>/reset-password", summary="Set a new initial password", tag="users",
         request_schema=ResetPasswordSchema, status=204, roles=OPERATOR_OR_ADMIN, errors=(400, 404, 503))
    def reset_password(self, request, user_id, body, actor):
        self.call("identity", "reset_password", user_id, body, actor)
        return 204, None

    @api("POST", "/api/v1/users/<user_id>/devices", summary="Replace the account's U_Key", tag="users",
         request_schema=DeviceSchema, response_schema=UserSchema, roles=OPERATOR_OR_ADMIN,
         errors=(400, 404, 409, 422, 503))
    def replace_device(self, request, user_id, body, actor):
        return 200, self.call("identity", "replace_device", user_id, body, actor)

    @api("POST", "/api/v1/proxies", summary="Name a proxy (代理人) for a time window", tag="users",
         request_schema=ProxySchema, status=201, idempotent=True, roles=ANY_ROLE, errors=(400, 404, 422, 503))
    def set_proxy(self, request, body, actor, idempotency_key):
        return 201, self.call("identity", "set_proxy", body, actor, idempotency_key=idempotency_key)

    @api("POST", "/api/v1/units/<code>/clients", summary="Client credentials for the unit's own system "
         "(the secret is shown once)", tag="users", response_schema=ClientSchema, status=201,
         roles=OPERATOR_OR_ADMIN, errors=(404, 422, 503))
    def create_client(self, request, code, actor):
        return 201, self.call("identity", "create_client", code, actor)

    @api("GET", "/api/v1/users", summary="Accounts: the operator's of every unit, a unit admin's of its own",
         tag="users", response_schema=UserPageSchema, query=PeopleQuerySchema, roles=OPERATOR_OR_ADMIN,
         errors=(400, 503))
    def list_users(self, request, actor, query):
        return 200, self.call("identity", "list_users", actor, **query)

    @api("GET", "/api/v1/units/<code>/clients", summary="The unit's department-system clients (never a secret)",
         tag="users", response_schema=ClientPageSchema, roles=OPERATOR_OR_ADMIN, errors=(400, 404, 503),
         query=ClientQuerySchema)
    def list_clients(self, request, code, actor, query):
        return 200, self.call("identity", "list_clients", code, actor, **query)

    @api("DELETE", "/api/v1/units/<code>/clients/<client_id>", summary="Revoke a client: its secret and the "
         "tokens it obtained stop working (in person)", tag="users", status=204, roles=OPERATOR_OR_ADMIN,
         errors=(404, 503))
    def revoke_client(self, request, code, client_id, actor):
        self.call("identity", "revoke_client", code, client_id, actor)
        return 204, None

    @api("GET", "/api/v1/proxies", summary="Proxies named (代理人): the operator's of every unit, a unit admin's "
         "of its own; status upcoming | active | ended", tag="users", response_schema=ProxyPageSchema,
         query=ProxyQuerySchema, roles=OPERATOR_OR_ADMIN, errors=(400, 503))
    def list_proxies(self, request, actor, query):
        return 200, self.call("identity", "list_proxies", actor, **query)
