"""Gateway entrypoints: HTTP in, RPC out. Thin: parsing at the edge, rules in the services."""
import logging
import mimetypes
from pathlib import Path

import eventlet
from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu.exceptions import OperationalError
from marshmallow import ValidationError
from nameko.dependency_providers import Config
from nameko.events import BROADCAST, event_handler
from nameko.exceptions import UnknownService
from nameko.rpc import RpcProxy
from swagger_ui_bundle import swagger_ui_path
from werkzeug.utils import safe_join
from werkzeug.wrappers import Response

from gongwen_common.errors import Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from gongwen_common.logging import CorrelationId
from gongwen_identity.domain.errors import ProxyNotAllowed
from gongwen_identity.schemas import LoginResultSchema, LoginSchema, NewUserSchema, ProxySchema, UserSchema
from gongwen_registry.schemas import (
    ContactsSchema,
    MergeSchema,
    RenameSchema,
    RevocationSchema,
    UnitApplicationSchema,
    UnitSchema,
)

from .auth import ANY_ROLE, Revocations
from .http import api, json_body
from .openapi import build_spec
from .schemas import (
    ActForRequestSchema,
    ActForResultSchema,
    ChallengeRequestSchema,
    ChallengeSchema,
    ClientCredentialsSchema,
    ClientSchema,
    DeadLetterListSchema,
    DeadLetterSchema,
    DeviceSchema,
    DisableSchema,
    HealthSchema,
    JwksSchema,
    ListQuerySchema,
    MeSchema,
    PasswordChangeSchema,
    ResetPasswordSchema,
    UnitPageSchema,
)

log = logging.getLogger("gongwen.gateway")

OPERATOR = ("operator",)


def actor_of(principal):
    """Who acts, as services record it (they look the person up in their own records); a proxy
    acting for the user is passed along so every record names both (000 §16)."""
    actor = {"user_id": principal.user_id, "unit_code": principal.unit_code, "roles": list(principal.roles)}
    if principal.proxy_user_id:
        actor["proxy_user_id"] = principal.proxy_user_id
    return actor


def in_person(principal, what: str) -> None:
    """Credentials and delegation are personal: refused to a proxy's token."""
    if principal.proxy_user_id:
        raise ProxyNotAllowed(message=f"A proxy may not {what} for the principal.")


SERVICES = ("registry", "identity", "seal", "exchange", "notify", "archive")

_SWAGGER_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Gongwen API</title>
<link rel="stylesheet" href="/api/v1/docs/static/swagger-ui.css"></head><body><div id="ui"></div>
<script src="/api/v1/docs/static/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/api/v1/openapi.json", dom_id: "#ui"});</script></body></html>"""


class GatewayService:
    name = "gateway"

    config = Config()
    correlation_id = CorrelationId()
    registry = RpcProxy("registry")
    identity = RpcProxy("identity")
    seal = RpcProxy("seal")
    exchange = RpcProxy("exchange")
    notify = RpcProxy("notify")
    archive = RpcProxy("archive")
    revocations = Revocations()

    def call(self, service, method, *args, timeout=None, **kwargs):
        """An RPC with a deadline: nameko's proxies would otherwise wait forever."""
        timeout = timeout or float(self.config.get("RPC_TIMEOUT", 10))
        try:
            with eventlet.Timeout(timeout):
                return getattr(getattr(self, service), method).call_async(*args, **kwargs).result()
        except eventlet.Timeout:
            raise ServiceUnavailable(message=f"{service} did not answer within {timeout:g}s") from None
        except (UnknownService, OperationalError, AmqpConnectionError, OSError) as exc:
            raise ServiceUnavailable(message=f"{service} is unavailable ({type(exc).__name__})") from None

    def _query(self, request):
        try:
            return ListQuerySchema().load({k: v for k, v in request.args.items() if k in ("limit", "cursor")})
        except ValidationError as exc:
            raise ValidationFailed(exc.normalized_messages()) from None

    # -- system ---------------------------------------------------------------------------

    @api("GET", "/api/v1/health", summary="Health of every service (each over RPC, with its database)",
         response_schema=HealthSchema, errors=(503,))
    def health(self, request):
        def probe(service):
            try:
                return service, self.call(service, "health", timeout=5)
            except Exception as exc:
                return service, {"service": service, "status": "down", "error": str(exc)}

        pile = eventlet.GreenPile()
        for service in SERVICES:
            pile.spawn(probe, service)
        services = dict(pile)
        healthy = all(h.get("status") == "ok" for h in services.values())
        return (200 if healthy else 503), {"status": "ok" if healthy else "degraded", "services": services}

    @api("GET", "/api/v1/openapi.json", summary="This OpenAPI document")
    def openapi(self, request):
        return 200, build_spec()

    @api("GET", "/api/v1/docs", summary="Swagger UI for this API")
    def docs(self, request):
        return Response(_SWAGGER_PAGE, mimetype="text/html")

    @api("GET", "/api/v1/docs/static/<name>", document=False)
    def docs_static(self, request, name):
        path = safe_join(swagger_ui_path, name)
        if path is None or not Path(path).is_file():
            raise NotFound(message="no such file")
        return Response(Path(path).read_bytes(), mimetype=mimetypes.guess_type(path)[0] or "application/octet-stream")

    # -- authentication (identity) ----------------------------------------------------------

    @event_handler("identity", "token_revoked", handler_type=BROADCAST, reliable_delivery=False)
    def on_token_revoked(self, envelope):
        """Every gateway instance learns of a logout at once; one starting later loads them all."""
        self.revocations.revoke(envelope["data"]["jti"], envelope["data"]["expires_at"])

    @api("POST", "/api/v1/auth/challenge", summary="A single-use login challenge for the U_Key to sign",
         tag="auth", request_schema=ChallengeRequestSchema, response_schema=ChallengeSchema, errors=(400, 503))
    def challenge(self, request):
        body = json_body(request, ChallengeRequestSchema())
        return 200, self.call("identity", "issue_challenge", body["username"])

    @api("POST", "/api/v1/auth/login", summary="Password + U_Key signature over the challenge → access token",
         tag="auth", request_schema=LoginSchema, response_schema=LoginResultSchema, errors=(400, 401, 503))
    def login(self, request):
        body = json_body(request, LoginSchema())
        return 200, self.call("identity", "login", body["username"], body["password"], body["challenge_id"],
                              body["signature"])

    @api("POST", "/api/v1/auth/token", summary="Client credentials of a unit's system → access token",
         tag="auth", request_schema=ClientCredentialsSchema, response_schema=LoginResultSchema,
         errors=(400, 401, 503))
    def client_token(self, request):
        body = json_body(request, ClientCredentialsSchema())
        return 200, self.call("identity", "client_token", body["client_id"], body["client_secret"])

    @api("POST", "/api/v1/auth/password", summary="Change one's own password", tag="auth", status=204,
         request_schema=PasswordChangeSchema, roles=ANY_ROLE, during_password_change=True, errors=(400, 503))
    def change_password(self, request):
        body = json_body(request, PasswordChangeSchema())
        in_person(request.principal, "change the password")
        self.call("identity", "change_password", request.principal.user_id, body["old_password"],
                  body["new_password"])
        return 204, None

    @api("POST", "/api/v1/auth/logout", summary="Revoke the access token used for this call", tag="auth",
         status=204, roles=ANY_ROLE, during_password_change=True, errors=(503,))
    def logout(self, request):
        principal = request.principal
        self.call("identity", "logout", principal.jti, principal.expires_at)
        self.revocations.revoke(principal.jti, principal.expires_at)  # this instance, before the event
        return 204, None

    @api("GET", "/api/v1/auth/keys", summary="The public keys access tokens are signed with (JWKS)", tag="auth",
         response_schema=JwksSchema, errors=(503,))
    def keys(self, request):
        return 200, self.call("identity", "jwks")

    @api("GET", "/api/v1/me", summary="Who the access token belongs to", tag="auth", response_schema=MeSchema,
         roles=ANY_ROLE, during_password_change=True, errors=(404, 503))
    def me(self, request):
        principal = request.principal
        if principal.is_client:
            return 200, {"user_id": principal.user_id, "username": principal.username, "name": principal.username,
                         "unit_code": principal.unit_code, "roles": list(principal.roles)}
        me = self.call("identity", "me", principal.user_id)
        if principal.proxy_user_id:
            me["proxy"] = {"user_id": principal.proxy_user_id, "username": principal.proxy_username}
        return 200, me

    @api("POST", "/api/v1/auth/act-for", summary="A proxy's (代理人) token to act for the principal inside the "
         "window; every record then names both", tag="auth", request_schema=ActForRequestSchema,
         response_schema=ActForResultSchema, roles=ANY_ROLE, errors=(400, 403, 503))
    def act_for(self, request):
        body = json_body(request, ActForRequestSchema())
        principal = request.principal
        if principal.is_client:
            raise ProxyNotAllowed(message="A department system cannot be a proxy.")
        in_person(principal, "name a further proxy")  # no chains: act for someone with your own login
        return 200, self.call("identity", "act_for", principal.user_id, body["principal_user_id"])

    # -- units (registry) -----------------------------------------------------------------

    @api("POST", "/api/v1/units", summary="Apply to register a unit (使用单位)", tag="units",
         request_schema=UnitApplicationSchema, response_schema=UnitSchema, status=201,
         roles=("operator", "admin"), errors=(400, 409, 413, 422, 503))
    def register_unit(self, request):
        """The operator files any application; a unit admin applies for a unit under their own."""
        application = json_body(request, UnitApplicationSchema())
        principal = request.principal
        if not principal.may(OPERATOR) and application.get("parent_code") != principal.unit_code:
            raise Forbidden(message="A unit admin may apply only for a unit under their own unit.")
        unit = self.call("registry", "register_unit", application, actor=actor_of(principal),
                         idempotency_key=request.headers.get("Idempotency-Key"))
        return 201, self._visible(unit, principal)

    @api("GET", "/api/v1/units", summary="Unit directory", tag="units", response_schema=UnitPageSchema,
         query={"q": "string", "parent": "string", "limit": "integer", "cursor": "string"},
         roles=ANY_ROLE, errors=(400, 503))
    def list_units(self, request):
        page = self.call("registry", "list_units", q=request.args.get("q"), parent=request.args.get("parent"),
                         **self._query(request))
        page["items"] = [self._visible(unit, request.principal) for unit in page["items"]]
        return 200, page

    @api("GET", "/api/v1/units/<code>", summary="One unit", tag="units", response_schema=UnitSchema,
         roles=ANY_ROLE, errors=(404, 503))
    def get_unit(self, request, code):
        return 200, self._visible(self.call("registry", "get_unit", code), request.principal)

    @staticmethod
    def _visible(unit, principal):
        """The directory is for every sender; contact mobiles only for the operator and the unit."""
        if not principal.may(OPERATOR) and principal.unit_code != unit["code"] and unit.get("contacts"):
            unit = {**unit, "contacts": {**unit["contacts"], "mobiles": {}}}
        return unit

    @api("POST", "/api/v1/units/<code>/approve", summary="Approve a unit's application", tag="units",
         response_schema=UnitSchema, roles=OPERATOR, errors=(404, 409, 503))
    def approve_unit(self, request, code):
        return 200, self.call("registry", "approve_unit", code, actor=actor_of(request.principal))

    @api("POST", "/api/v1/units/<code>/rename", summary="Rename a unit (the old name stays in its history)",
         tag="units", request_schema=RenameSchema, response_schema=UnitSchema, roles=OPERATOR,
         errors=(400, 404, 409, 503))
    def rename_unit(self, request, code):
        body = json_body(request, RenameSchema())
        return 200, self.call("registry", "rename_unit", code, body["name"], actor=actor_of(request.principal))

    @api("POST", "/api/v1/units/<code>/revoke", summary="Revoke a unit (撤销) and say what becomes of its documents",
         tag="units", request_schema=RevocationSchema, response_schema=UnitSchema, roles=OPERATOR,
         errors=(400, 404, 409, 422, 503))
    def revoke_unit(self, request, code):
        body = json_body(request, RevocationSchema())
        return 200, self.call("registry", "revoke_unit", code, body["reason"], body["documents"],
                              successor_code=body.get("successor_code"), actor=actor_of(request.principal))

    @api("POST", "/api/v1/units/merge", summary="Merge units (合并) into one of them or into a new unit",
         tag="units", request_schema=MergeSchema, roles=OPERATOR, errors=(400, 404, 409, 422, 503))
    def merge_units(self, request):
        body = json_body(request, MergeSchema())
        return 200, self.call("registry", "merge_units", body["from_codes"], into_code=body.get("into_code"),
                              new=body.get("new"), actor=actor_of(request.principal),
                              idempotency_key=request.headers.get("Idempotency-Key"))

    @api("PUT", "/api/v1/units/<code>/contacts", summary="File the unit's admin, clerks, leader and mobiles (备案)",
         tag="units", request_schema=ContactsSchema, response_schema=UnitSchema, roles=("operator", "admin"),
         errors=(400, 404, 409, 422, 503))
    def set_contacts(self, request, code):
        """A unit's admin files its own contacts; switching SMS on or off is the operator's approval."""
        body = json_body(request, ContactsSchema())
        principal = request.principal
        if not principal.may(OPERATOR):
            if principal.unit_code != code:
                raise NotFound(message=f"no unit {code!r}")
            if body["sms_enabled"] != self.call("registry", "get_unit", code)["sms_enabled"]:
                raise Forbidden(message="Enabling or disabling SMS needs the operator's approval.")
        return 200, self.call("registry", "set_contacts", code, body, actor=actor_of(principal))

    # -- users (identity) -----------------------------------------------------------------

    @api("POST", "/api/v1/users", summary="Request (admin) or create (operator) a real-name account", tag="users",
         request_schema=NewUserSchema, response_schema=UserSchema, status=201, roles=("operator", "admin"),
         errors=(400, 404, 409, 422, 503))
    def create_user(self, request):
        body = json_body(request, NewUserSchema())
        return 201, self.call("identity", "create_user", body, actor_of(request.principal),
                              idempotency_key=request.headers.get("Idempotency-Key"))

    @api("POST", "/api/v1/users/<user_id>/approve", summary="Approve a requested account", tag="users",
         response_schema=UserSchema, roles=OPERATOR, errors=(404, 409, 503))
    def approve_user(self, request, user_id):
        return 200, self.call("identity", "approve_user", user_id, actor_of(request.principal))

    @api("POST", "/api/v1/users/<user_id>/disable", summary="Disable an account at once", tag="users",
         request_schema=DisableSchema, response_schema=UserSchema, roles=("operator", "admin"),
         errors=(400, 404, 409, 503))
    def disable_user(self, request, user_id):
        body = json_body(request, DisableSchema())
        return 200, self.call("identity", "disable_user", user_id, actor_of(request.principal), body["reason"])

    @api("POST", "/api/v1/users/<user_id>/reset-password", summary="Set a new initial password", tag="users",
         request_schema=ResetPasswordSchema, status=204, roles=("operator", "admin"), errors=(400, 404, 503))
    def reset_password(self, request, user_id):
        body = json_body(request, ResetPasswordSchema())
        self.call("identity", "reset_password", user_id, body["initial_password"], actor_of(request.principal))
        return 204, None

    @api("POST", "/api/v1/users/<user_id>/devices", summary="Replace the account's U_Key", tag="users",
         request_schema=DeviceSchema, response_schema=UserSchema, roles=("operator", "admin"),
         errors=(400, 404, 409, 503))
    def replace_device(self, request, user_id):
        body = json_body(request, DeviceSchema())
        return 200, self.call("identity", "replace_device", user_id, body["public_key"], actor_of(request.principal))

    @api("POST", "/api/v1/proxies", summary="Name a proxy (代理人) for a time window", tag="users",
         request_schema=ProxySchema, status=201, roles=ANY_ROLE, errors=(400, 404, 422, 503))
    def set_proxy(self, request):
        body = json_body(request, ProxySchema())
        in_person(request.principal, "name a proxy")
        return 201, self.call("identity", "set_proxy", body["principal_user_id"], body["proxy_user_id"],
                              body["starts_at"].isoformat(), body["ends_at"].isoformat(),
                              actor_of(request.principal), idempotency_key=request.headers.get("Idempotency-Key"))

    @api("POST", "/api/v1/units/<code>/clients", summary="Client credentials for the unit's own system "
         "(the secret is shown once)", tag="users", response_schema=ClientSchema, status=201,
         roles=("operator", "admin"), errors=(404, 422, 503))
    def create_client(self, request, code):
        return 201, self.call("identity", "create_client", code, actor_of(request.principal))

    # -- units (registry) -----

    # -- operations -----------------------------------------------------------------------

    @api("GET", "/api/v1/admin/dead-letters", summary="Events that kept failing, per service",
         tag="operations", response_schema=DeadLetterListSchema, roles=OPERATOR,
         query={"service": "string", "include_replayed": "boolean"}, errors=(400, 503))
    def dead_letters(self, request):
        wanted = request.args.get("service")
        if wanted and wanted not in SERVICES:
            raise NotFound(message=f"no service {wanted!r}")
        include = request.args.get("include_replayed") in ("1", "true")
        items = [dict(letter, service=service)
                 for service in ([wanted] if wanted else SERVICES)
                 for letter in self.call(service, "list_dead_letters", include_replayed=include)]
        return 200, {"items": items}

    @api("POST", "/api/v1/admin/dead-letters/<service>/<int:letter_id>/replay",
         summary="Put a dead letter back on its queue", tag="operations",
         response_schema=DeadLetterSchema, roles=OPERATOR, errors=(404, 503))
    def replay_dead_letter(self, request, service, letter_id):
        if service not in SERVICES:
            raise NotFound(message=f"no service {service!r}")
        return 200, self.call(service, "replay_dead_letter", letter_id)

    @api("GET,POST,PUT,PATCH,DELETE", "/<path:path>", document=False)
    def not_found(self, request, path):
        raise NotFound(message=f"no resource at /{path}")
