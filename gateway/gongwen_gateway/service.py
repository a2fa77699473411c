"""Gateway entrypoints: HTTP in, RPC out. Thin: parsing at the edge, rules in the services."""
import base64
import logging
import mimetypes
from pathlib import Path
from urllib.parse import quote

import eventlet
from nameko.dependency_providers import Config
from nameko.events import BROADCAST
from nameko.rpc import RpcProxy
from swagger_ui_bundle import swagger_ui_path
from werkzeug.utils import safe_join
from werkzeug.wrappers import Response

from gongwen_common import rpc
from gongwen_common.errors import (
    DomainError,
    Forbidden,
    NotFound,
    ProxyNotAllowed,
    ValidationFailed,
    validated,
)
from gongwen_common.logging import CorrelationId
from gongwen_common.rpc import to_wire
from gongwen_exchange.schemas import (
    CalendarYearSchema,
    MetadataSchema,
    PaperDeliverySchema,
    PrintRequestSchema,
    ReasonSchema,
    RegistrationSchema,
    ResendSchema,
    SealApprovalsSchema,
)
from gongwen_identity.schemas import LoginResultSchema, LoginSchema, NewUserSchema, ProxySchema, UserSchema
from gongwen_registry.schemas import (
    ContactsSchema,
    MergeSchema,
    RenameSchema,
    RevocationSchema,
    UnitApplicationSchema,
    UnitSchema,
)

from .auth import ANY_ROLE, Revocations, revocation_handler
from .http import api, form_parts, json_body, parse_json
from .openapi import build_spec
from .schemas import (
    PEOPLE_QUERY,
    ActForRequestSchema,
    ActForResultSchema,
    ChallengeRequestSchema,
    ChallengeSchema,
    ClientCredentialsSchema,
    ClientPageSchema,
    ClientSchema,
    DeadLetterListSchema,
    DeadLetterSchema,
    DestructionSchema,
    DeviceSchema,
    DisableSchema,
    DocumentSchema,
    HealthSchema,
    JwksSchema,
    ListQuerySchema,
    MeSchema,
    PasswordChangeSchema,
    PeopleQuerySchema,
    PrintSchema,
    ProxyPageSchema,
    ReceiptPageSchema,
    ReceiptSchema,
    ResetPasswordSchema,
    SealApplicationSchema,
    SealingSchema,
    SealRevocationSchema,
    SealSchema,
    UnitPageSchema,
    UseApprovalRequestSchema,
    UseApprovalSchema,
    UserPageSchema,
    VerificationSchema,
)

log = logging.getLogger("gongwen.gateway")

OPERATOR = ("operator",)
RECEIVERS = ("clerk", "system")  # a unit's clerks, or its own office system


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
        """An RPC with a deadline (``gongwen_common.rpc``): the first hop's, the longest of the chain;
        every service it reaches waits less on its own calls."""
        return rpc.call(getattr(self, service), method, *args,
                        timeout=timeout or float(self.config.get("RPC_TIMEOUT", 10)), **kwargs)

    def _query(self, request):
        return validated(ListQuerySchema(), {k: v for k, v in request.args.items() if k in ("limit", "cursor")})

    # -- system ---------------------------------------------------------------------------

    @api("GET", "/api/v1/health", summary="Health of every service (each over RPC, with its database)",
         response_schema=HealthSchema, errors=(503,), public=True)
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

    @api("GET", "/api/v1/openapi.json", summary="This OpenAPI document", public=True)
    def openapi(self, request):
        return 200, build_spec()

    @api("GET", "/api/v1/docs", summary="Swagger UI for this API", public=True)
    def docs(self, request):
        return Response(_SWAGGER_PAGE, mimetype="text/html")

    @api("GET", "/api/v1/docs/static/<name>", document=False, public=True)
    def docs_static(self, request, name):
        path = safe_join(swagger_ui_path, name)
        if path is None or not Path(path).is_file():
            raise NotFound(message="no such file")
        return Response(Path(path).read_bytes(), mimetype=mimetypes.guess_type(path)[0] or "application/octet-stream")

    # -- authentication (identity) ----------------------------------------------------------

    @revocation_handler("identity", "token_revoked", handler_type=BROADCAST, reliable_delivery=False)
    def on_token_revoked(self, envelope):
        """Every gateway instance learns of a logout at once; one that was starting or
        reconnecting meanwhile reloads them from identity (``auth.Keyring``)."""
        self.revocations.revoke(envelope["data"]["jti"], envelope["data"]["expires_at"])

    @api("POST", "/api/v1/auth/challenge", summary="A single-use login challenge for the U_Key to sign",
         tag="auth", request_schema=ChallengeRequestSchema, response_schema=ChallengeSchema, errors=(400, 429, 503),
         rate_limit="auth", public=True)
    def challenge(self, request):
        body = json_body(request, ChallengeRequestSchema())
        return 200, self.call("identity", "issue_challenge", body["username"])

    @api("POST", "/api/v1/auth/login", summary="Password + U_Key signature over the challenge → access token",
         tag="auth", request_schema=LoginSchema, response_schema=LoginResultSchema, errors=(400, 401, 429, 503),
         rate_limit="auth", public=True)
    def login(self, request):
        body = json_body(request, LoginSchema())
        return 200, self.call("identity", "login", body["username"], body["password"], body["challenge_id"],
                              body["signature"])

    @api("POST", "/api/v1/auth/token", summary="Client credentials of a unit's system → access token",
         tag="auth", request_schema=ClientCredentialsSchema, response_schema=LoginResultSchema,
         errors=(400, 401, 429, 503), rate_limit="auth", public=True)
    def client_token(self, request):
        body = json_body(request, ClientCredentialsSchema())
        return 200, self.call("identity", "client_token", body["client_id"], body["client_secret"])

    @api("POST", "/api/v1/auth/password", summary="Change one's own password", tag="auth", status=204,
         request_schema=PasswordChangeSchema, roles=ANY_ROLE, during_password_change=True, errors=(400, 503))
    def change_password(self, request):
        body = json_body(request, PasswordChangeSchema())
        if request.principal.is_client:
            raise Forbidden(message="A department system has no password: its unit's admin issues and revokes "
                                    "its client credentials.")
        in_person(request.principal, "change the password")
        self.call("identity", "change_password", request.principal.user_id, body["old_password"],
                  body["new_password"], actor=actor_of(request.principal))
        return 204, None

    @api("POST", "/api/v1/auth/logout", summary="Revoke the access token used for this call", tag="auth",
         status=204, roles=ANY_ROLE, during_password_change=True, errors=(503,))
    def logout(self, request):
        principal = request.principal
        self.call("identity", "logout", principal.jti, principal.expires_at)
        self.revocations.revoke(principal.jti, principal.expires_at)  # this instance, before the event
        return 204, None

    @api("GET", "/api/v1/auth/keys", summary="The public keys access tokens are signed with (JWKS)", tag="auth",
         response_schema=JwksSchema, errors=(503,), public=True)
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
        return 200, self.call("identity", "act_for", principal.user_id, body["principal_user_id"],
                              actor=actor_of(principal))

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
        in_person(request.principal, "create an account")
        return 201, self.call("identity", "create_user", body, actor_of(request.principal),
                              idempotency_key=request.headers.get("Idempotency-Key"))

    @api("POST", "/api/v1/users/<user_id>/approve", summary="Approve a requested account", tag="users",
         response_schema=UserSchema, roles=OPERATOR, errors=(404, 409, 503))
    def approve_user(self, request, user_id):
        in_person(request.principal, "approve an account")
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
        in_person(request.principal, "reset a password")
        self.call("identity", "reset_password", user_id, body["initial_password"], actor_of(request.principal))
        return 204, None

    @api("POST", "/api/v1/users/<user_id>/devices", summary="Replace the account's U_Key", tag="users",
         request_schema=DeviceSchema, response_schema=UserSchema, roles=("operator", "admin"),
         errors=(400, 404, 409, 503))
    def replace_device(self, request, user_id):
        body = json_body(request, DeviceSchema())
        in_person(request.principal, "replace a U_Key")
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
        in_person(request.principal, "create client credentials")
        return 201, self.call("identity", "create_client", code, actor_of(request.principal))

    def _people_query(self, request):
        return validated(PeopleQuerySchema(), {k: v for k, v in request.args.items() if k in PEOPLE_QUERY})

    @api("GET", "/api/v1/users", summary="Accounts: the operator's of every unit, a unit admin's of its own",
         tag="users", response_schema=UserPageSchema, query=PEOPLE_QUERY, roles=("operator", "admin"),
         errors=(400, 503))
    def list_users(self, request):
        return 200, self.call("identity", "list_users", actor_of(request.principal), **self._people_query(request))

    @api("GET", "/api/v1/units/<code>/clients", summary="The unit's department-system clients (never a secret)",
         tag="users", response_schema=ClientPageSchema, roles=("operator", "admin"), errors=(400, 404, 503),
         query={k: v for k, v in PEOPLE_QUERY.items() if k != "unit"})
    def list_clients(self, request, code):
        query = self._people_query(request)
        query.pop("unit")  # the path names the unit
        return 200, self.call("identity", "list_clients", code, actor_of(request.principal), **query)

    @api("DELETE", "/api/v1/units/<code>/clients/<client_id>", summary="Revoke a client: its secret and the "
         "tokens it obtained stop working (in person)", tag="users", status=204, roles=("operator", "admin"),
         errors=(404, 503))
    def revoke_client(self, request, code, client_id):
        in_person(request.principal, "revoke client credentials")
        self.call("identity", "revoke_client", code, client_id, actor_of(request.principal))
        return 204, None

    @api("GET", "/api/v1/proxies", summary="Proxies named (代理人): the operator's of every unit, a unit admin's "
         "of its own; status upcoming | active | ended", tag="users", response_schema=ProxyPageSchema,
         query=PEOPLE_QUERY, roles=("operator", "admin"), errors=(400, 503))
    def list_proxies(self, request):
        return 200, self.call("identity", "list_proxies", actor_of(request.principal), **self._people_query(request))

    # -- units (registry) -----

    # -- seals (seal) ---------------------------------------------------------------------

    @api("GET", "/api/v1/seals/ca.pem", summary="The operator CA certificate, for anyone verifying a seal",
         tag="seals", produces="application/x-pem-file", errors=(503,), public=True)
    def ca_pem(self, request):
        return Response(self.call("seal", "ca_certificate"), mimetype="application/x-pem-file")

    @api("POST", "/api/v1/seals", summary="Apply for the unit's electronic seal (电子印章)", tag="seals",
         request_schema=SealApplicationSchema, response_schema=SealSchema, status=201, roles=("operator", "admin"),
         errors=(400, 404, 409, 422, 503))
    def apply_seal(self, request):
        """Custodians must be active users of the unit: identity is asked before the seal service."""
        body = json_body(request, SealApplicationSchema())
        principal = request.principal
        if not principal.may(OPERATOR) and principal.unit_code != body["unit_code"]:
            raise NotFound(message=f"no unit {body['unit_code']!r}")
        custodians = body["custody"]["custodian_user_ids"]
        members = self.call("identity", "active_members", body["unit_code"], custodians)
        if set(members) != set(custodians):
            raise ValidationFailed({"custody": {"custodian_user_ids": [
                f"not active users of the unit: {sorted(set(custodians) - set(members))}"]}})
        return 201, self.call("seal", "apply_seal", body["unit_code"], body["custody"], actor_of(principal),
                              idempotency_key=request.headers.get("Idempotency-Key"))

    @api("POST", "/api/v1/seals/<serial>/approve", summary="Approve a seal: its key and certificate are made",
         tag="seals", response_schema=SealSchema, roles=OPERATOR, errors=(404, 409, 503))
    def approve_seal(self, request, serial):
        return 200, self.call("seal", "approve_seal", serial, actor_of(request.principal))

    @api("GET", "/api/v1/seals/<serial>", summary="One seal (its unit and the operator)", tag="seals",
         response_schema=SealSchema, roles=ANY_ROLE, errors=(404, 503))
    def get_seal(self, request, serial):
        return 200, self.call("seal", "get_seal", serial, actor_of(request.principal))

    @api("GET", "/api/v1/seals/<serial>/certificate.pem", summary="A seal's certificate (public: for verifiers)",
         tag="seals", produces="application/x-pem-file", roles=ANY_ROLE, errors=(404, 503))
    def seal_certificate(self, request, serial):
        return Response(self.call("seal", "seal_certificate", serial), mimetype="application/x-pem-file")

    @api("GET", "/api/v1/seals/<serial>/image.png", summary="A seal's image (印章图像)", tag="seals",
         produces="image/png", roles=ANY_ROLE, errors=(404, 503))
    def seal_image(self, request, serial):
        return Response(base64.b64decode(self.call("seal", "seal_image", serial)), mimetype="image/png")

    @api("PUT", "/api/v1/seals/<serial>/image.png", summary="Upload the seal image before the seal is issued "
         "(otherwise it is rendered from the unit's name)", tag="seals", response_schema=SealSchema,
         roles=("operator", "admin"), errors=(400, 404, 409, 413, 503))
    def upload_seal_image(self, request, serial):
        png = request.get_data(cache=False)
        return 200, self.call("seal", "set_seal_image", serial, to_wire(png),
                              actor_of(request.principal))

    @api("POST", "/api/v1/seals/<serial>/revoke", summary="Revoke a seal", tag="seals",
         request_schema=SealRevocationSchema, response_schema=SealSchema, roles=("operator", "admin"),
         errors=(400, 404, 409, 503))
    def revoke_seal(self, request, serial):
        body = json_body(request, SealRevocationSchema())
        return 200, self.call("seal", "revoke_seal", serial, body["reason"], actor_of(request.principal))

    @api("POST", "/api/v1/seals/<serial>/destruction-approvals", summary="Record one party's presence at the "
         "seal's destruction (operator, secrecy bureau, owning unit); the third destroys it", tag="seals",
         response_schema=DestructionSchema, roles=("operator", "secrecy_officer", "admin"),
         errors=(404, 409, 503))
    def approve_destruction(self, request, serial):
        principal = request.principal
        actor = actor_of(principal)
        if principal.may(("secrecy_officer",)):
            # Only a secrecy officer of the secrecy bureau (保密局) stands for it; the registry knows the unit's kind.
            try:
                actor["unit_kind"] = self.call("registry", "get_unit", principal.unit_code)["kind"]
            except DomainError:
                actor["unit_kind"] = None
        return 200, self.call("seal", "approve_destruction", serial, actor)

    @api("POST", "/api/v1/seals/<serial>/use-approvals", summary="A custodian approves one use of the seal on one "
         "manifest (two-person custody)", tag="seals", request_schema=UseApprovalRequestSchema,
         response_schema=UseApprovalSchema, status=201, roles=ANY_ROLE, errors=(400, 404, 409, 503))
    def approve_use(self, request, serial):
        body = json_body(request, UseApprovalRequestSchema())
        return 201, self.call("seal", "approve_use", serial, body["manifest_sha256"], actor_of(request.principal))

    @api("POST", "/api/v1/seals/sign", summary="Seal a manifest with the caller's unit seal (detached CMS)",
         tag="seals", form={"manifest": "file", "approval_ids": "string"}, response_schema=SealingSchema,
         roles=("clerk",), errors=(400, 404, 409, 413, 503))
    def sign(self, request):
        """For a department system sealing outside the documents flow; ``approval_ids`` comma-separated."""
        parts = form_parts(request, required=("manifest",), optional=("approval_ids",))
        approvals = [a.strip() for a in str(parts.get("approval_ids") or "").split(",") if a.strip()]
        principal = request.principal
        return 200, self.call("seal", "sign", principal.unit_code, to_wire(parts["manifest"]), actor_of(principal),
                              approval_ids=approvals or None)

    def _verification_parts(self, request):
        parts = form_parts(request, required=("manifest", "signature"), optional=("body", "unit_code"),
                           many=("attachments",))
        body = parts.get("body")
        return dict(manifest_b64=to_wire(parts["manifest"]), signature_b64=to_wire(parts["signature"]),
                    unit_code=parts.get("unit_code") if isinstance(parts.get("unit_code"), str) else None,
                    body_b64=to_wire(body) if isinstance(body, bytes) else None,
                    attachments_b64={name: to_wire(data) for name, data in parts["attachments"]} or None)

    @api("POST", "/api/v1/seals/verify", summary="Verify a sealed manifest (and the parts given)", tag="seals",
         form={"manifest": "file", "signature": "file", "body": "file", "attachments": "files",
               "unit_code": "string"}, response_schema=VerificationSchema, roles=ANY_ROLE,
         errors=(400, 413, 503))
    def verify(self, request):
        return 200, self.call("seal", "verify", **self._verification_parts(request))

    @api("POST", "/api/v1/seals/verify-for-print", summary="Verify a sealed manifest before printing it; no stamp "
         "here: a verification stamp (print serial) comes only with a granted print, POST /documents/{id}/print",
         tag="seals", form={"manifest": "file", "signature": "file", "body": "file", "attachments": "files",
                            "unit_code": "string"}, response_schema=VerificationSchema, roles=ANY_ROLE,
         errors=(400, 413, 503))
    def verify_for_print(self, request):
        return 200, self.call("seal", "verify", **self._verification_parts(request))

    # -- documents (exchange) -----------------------------------------------------------

    @api("POST", "/api/v1/documents", summary="Send a sealed document (发文) to main and copy recipients "
         "(202 when a seal under two-person custody awaits its custodians)",
         tag="documents", form={"metadata": "string", "body": "file", "attachments": "files"},
         response_schema=DocumentSchema, status=201, roles=("clerk",), uploads=True,
         errors=(400, 403, 409, 413, 422, 503))
    def send_document(self, request):
        """``metadata`` is the JSON of API.md's metadata; ``Idempotency-Key`` makes a retry send once."""
        parts = form_parts(request, required=("metadata", "body"), many=("attachments",))
        metadata = parse_json(parts["metadata"], "metadata")
        metadata = validated(MetadataSchema(), metadata, "metadata")
        body_file = request.files.get("body")
        files = [{"name": name, "data": to_wire(data)} for name, data in parts["attachments"]]
        sent = self.call("exchange", "send_document", metadata, to_wire(parts["body"]),
                         body_file.filename if body_file else "body", files, actor_of(request.principal),
                         idempotency_key=request.headers.get("Idempotency-Key"), timeout=60)
        # 202: under two-person custody the custodians approve the manifest first (POST …/{id}/seal then sends).
        return (202 if sent["status"] == "awaiting_seal" else 201), sent

    @api("POST", "/api/v1/documents/<document_id>/seal", summary="Seal and send a document that awaited its "
         "custodians' approvals (two-person custody)", tag="documents", request_schema=SealApprovalsSchema,
         response_schema=DocumentSchema, roles=("clerk",), errors=(400, 404, 409, 422, 503))
    def seal_document(self, request, document_id):
        body = json_body(request, SealApprovalsSchema())
        return 200, self.call("exchange", "seal_document", document_id, body["seal_use_approval_ids"],
                              actor_of(request.principal), timeout=60)

    @api("GET", "/api/v1/documents/<document_id>", summary="A document: the sender sees every receipt, a "
         "recipient its own", tag="documents", response_schema=DocumentSchema, roles=ANY_ROLE, errors=(404, 503))
    def get_document(self, request, document_id):
        return 200, self.call("exchange", "get_document", document_id, actor_of(request.principal))

    def _download(self, request, document_id, part):
        got = self.call("exchange", "download", document_id, part, actor_of(request.principal))
        response = Response(base64.b64decode(got["data"]), mimetype=got["media_type"])
        # RFC 6266 / 8187: an ASCII fallback, and the real (often Chinese) name percent-encoded.
        fallback = got["name"].encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
        response.headers["Content-Disposition"] = (f'attachment; filename="{fallback}"; '
                                                   f"filename*=UTF-8''{quote(got['name'], safe='')}")
        return response

    @api("GET", "/api/v1/documents/<document_id>/manifest", summary="The sealed manifest (canonical JSON); "
         "a recipient's first download is its receipt time", tag="documents", produces="application/json",
         roles=ANY_ROLE, errors=(404, 409, 503))
    def download_manifest(self, request, document_id):
        return self._download(request, document_id, "manifest")

    @api("GET", "/api/v1/documents/<document_id>/signature.p7s", summary="The seal: detached CMS SignedData (DER)",
         tag="documents", produces="application/pkcs7-signature", roles=ANY_ROLE, errors=(404, 409, 503))
    def download_signature(self, request, document_id):
        return self._download(request, document_id, "signature.p7s")

    @api("GET", "/api/v1/documents/<document_id>/body", summary="The body", tag="documents",
         produces="application/octet-stream", roles=ANY_ROLE, errors=(404, 409, 503))
    def download_body(self, request, document_id):
        return self._download(request, document_id, "body")

    @api("GET", "/api/v1/documents/<document_id>/attachments/<int:n>", summary="Attachment n (from 1)",
         tag="documents", produces="application/octet-stream", roles=ANY_ROLE, errors=(404, 409, 503))
    def download_attachment(self, request, document_id, n):
        return self._download(request, document_id, f"attachments/{n}")

    @api("GET", "/api/v1/inbox", summary="The unit's received documents (收文), newest first", tag="documents",
         response_schema=ReceiptPageSchema, query={"state": "string", "urgency": "string", "since": "string",
                                                   "limit": "integer", "cursor": "string"},
         roles=ANY_ROLE, errors=(400, 503))
    def inbox(self, request):
        query = self._query(request)
        return 200, self.call("exchange", "inbox", actor_of(request.principal), state=request.args.get("state"),
                              urgency=request.args.get("urgency"), since=request.args.get("since"), **query)

    @api("GET", "/api/v1/outbox", summary="The unit's sent documents with receipt counts by state",
         tag="documents", response_schema=ReceiptPageSchema, query={"limit": "integer", "cursor": "string"},
         roles=ANY_ROLE, errors=(400, 503))
    def outbox(self, request):
        return 200, self.call("exchange", "outbox", actor_of(request.principal), **self._query(request))

    @api("GET", "/api/v1/documents/<document_id>/receipts", summary="The sender's matrix: recipients × state × "
         "times", tag="documents", roles=ANY_ROLE, errors=(404, 503))
    def receipts(self, request, document_id):
        return 200, {"items": self.call("exchange", "receipts", document_id, actor_of(request.principal))}

    @api("POST", "/api/v1/documents/<document_id>/sign", summary="Sign for it (签收): the seal is verified again",
         tag="documents", response_schema=ReceiptSchema, roles=RECEIVERS, errors=(404, 409, 503))
    def sign_for(self, request, document_id):
        return 200, self.call("exchange", "sign_for", document_id, actor_of(request.principal))

    @api("POST", "/api/v1/documents/<document_id>/register", summary="Register it (登记) with the unit's number",
         tag="documents", request_schema=RegistrationSchema, response_schema=ReceiptSchema, roles=RECEIVERS,
         errors=(400, 404, 409, 503))
    def register(self, request, document_id):
        body = json_body(request, RegistrationSchema())
        return 200, self.call("exchange", "register", document_id, body["registration_number"],
                              actor_of(request.principal))

    @api("POST", "/api/v1/documents/<document_id>/return", summary="Return it (退回) with a reason",
         tag="documents", request_schema=ReasonSchema, response_schema=ReceiptSchema, roles=RECEIVERS,
         errors=(400, 404, 409, 503))
    def return_document(self, request, document_id):
        body = json_body(request, ReasonSchema())
        return 200, self.call("exchange", "return_document", document_id, body["reason"], actor_of(request.principal))

    @api("POST", "/api/v1/documents/<document_id>/print", summary="Print one granted copy, with the verification "
         "stamp (a retry with the same Idempotency-Key gets the same copy)", tag="documents",
         response_schema=PrintSchema, roles=RECEIVERS, errors=(404, 409, 503))
    def print_copy(self, request, document_id):
        return 200, self.call("exchange", "print_copy", document_id, actor_of(request.principal),
                              idempotency_key=request.headers.get("Idempotency-Key"))

    @api("POST", "/api/v1/documents/<document_id>/print-requests", summary="Ask the sender for more copies",
         tag="documents", request_schema=PrintRequestSchema, status=201, roles=RECEIVERS,
         errors=(400, 404, 503))
    def request_print_copies(self, request, document_id):
        body = json_body(request, PrintRequestSchema())
        return 201, self.call("exchange", "request_print_copies", document_id, body["copies"], body["reason"],
                              actor_of(request.principal))

    @api("POST", "/api/v1/documents/<document_id>/print-requests/<request_id>/grant", summary="Grant the copies",
         tag="documents", roles=("clerk",), errors=(404, 409, 503))
    def grant_print_request(self, request, document_id, request_id):
        return 200, self.call("exchange", "answer_print_request", document_id, request_id, True,
                              actor_of(request.principal))

    @api("POST", "/api/v1/documents/<document_id>/print-requests/<request_id>/refuse", summary="Refuse the copies",
         tag="documents", roles=("clerk",), errors=(404, 409, 503))
    def refuse_print_request(self, request, document_id, request_id):
        return 200, self.call("exchange", "answer_print_request", document_id, request_id, False,
                              actor_of(request.principal))

    @api("POST", "/api/v1/documents/<document_id>/resend-requests", summary="Ask the sender to send again",
         tag="documents", request_schema=ReasonSchema, status=201, roles=RECEIVERS, errors=(400, 404, 409, 503))
    def request_resend(self, request, document_id):
        body = json_body(request, ReasonSchema())
        return 201, self.call("exchange", "request_resend", document_id, body["reason"], actor_of(request.principal))

    @api("POST", "/api/v1/documents/<document_id>/resend", summary="Send again (重发) to returned or asking "
         "recipients", tag="documents", request_schema=ResendSchema, roles=("clerk",), errors=(400, 404, 409, 503))
    def resend(self, request, document_id):
        body = json_body(request, ResendSchema())
        return 200, {"items": self.call("exchange", "resend", document_id, body["unit_codes"],
                                        actor_of(request.principal))}

    @api("POST", "/api/v1/documents/<document_id>/recall", summary="Recall it (撤回) while nobody has signed",
         tag="documents", response_schema=DocumentSchema, roles=("clerk",), errors=(404, 409, 503))
    def recall(self, request, document_id):
        return 200, self.call("exchange", "recall", document_id, actor_of(request.principal))

    @api("POST", "/api/v1/documents/<document_id>/paper-delivery", summary="Record paper service to a recipient "
         "during an outage", tag="documents", request_schema=PaperDeliverySchema, response_schema=ReceiptSchema,
         roles=("clerk",), errors=(400, 404, 409, 503))
    def paper_delivery(self, request, document_id):
        body = json_body(request, PaperDeliverySchema())
        return 200, self.call("exchange", "paper_delivery", document_id, body["unit_code"], body["note"],
                              actor_of(request.principal))

    @api("PUT", "/api/v1/admin/calendar/<int:year>", summary="Load a year's official holiday schedule "
         "(overrides the library)", tag="operations", request_schema=CalendarYearSchema, roles=OPERATOR,
         errors=(400, 503))
    def load_calendar(self, request, year):
        body = json_body(request, CalendarYearSchema())
        days = [{**d, "date": d["date"].isoformat()} for d in body["days"]]
        return 200, self.call("exchange", "load_calendar", year, {**body, "days": days}, actor_of(request.principal))

    @api("GET", "/api/v1/admin/calendar", summary="Which years the working calendar covers, and warnings",
         tag="operations", roles=OPERATOR, errors=(503,))
    def calendar_status(self, request):
        return 200, self.call("exchange", "calendar_status")

    @api("GET", "/api/v1/supervision/presence", summary="Duty windows in which no clerk of a unit was online",
         tag="operations", query={"date": "string", "unit": "string"}, roles=ANY_ROLE, errors=(400, 503))
    def presence(self, request):
        return 200, self.call("exchange", "presence_report", request.args.get("date", ""),
                              actor_of(request.principal), unit_code=request.args.get("unit"))

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

    @api("GET,POST,PUT,PATCH,DELETE", "/<path:path>", document=False, public=True)
    def not_found(self, request, path):
        raise NotFound(message=f"no resource at /{path}")
