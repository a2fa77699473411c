"""Authentication (identity): login by U_Key, client credentials, one's password, proxies' tokens."""
from nameko.events import BROADCAST

from gongwen_contracts.identity.schemas import (
    ActForRequestSchema,
    ActForResultSchema,
    ChallengeRequestSchema,
    ChallengeSchema,
    ClientCredentialsSchema,
    JwksSchema,
    LoginResultSchema,
    LoginSchema,
    MeSchema,
    PasswordChangeSchema,
)

from ..auth import ANY_ROLE, revocation_handler
from ..http import api


class AuthRoutes:
    @revocation_handler("identity", "token_revoked", handler_type=BROADCAST, reliable_delivery=False)
    def on_token_revoked(self, envelope):
        """Every gateway instance learns of a logout at once; one that was starting or
        reconnecting meanwhile reloads them from identity (``auth.Keyring``)."""
        self.revocations.revoke(envelope["data"]["jti"], envelope["data"]["expires_at"])

    @api("POST", "/api/v1/auth/challenge", summary="A single-use login challenge for the U_Key to sign",
         tag="auth", request_schema=ChallengeRequestSchema, response_schema=ChallengeSchema, errors=(400, 429, 503),
         rate_limit="auth", public=True)
    def challenge(self, request, body):
        return 200, self.call("identity", "issue_challenge", body)

    @api("POST", "/api/v1/auth/login", summary="Password + U_Key signature over the challenge → access token",
         tag="auth", request_schema=LoginSchema, response_schema=LoginResultSchema, errors=(400, 401, 429, 503),
         rate_limit="auth", public=True)
    def login(self, request, body):
        return 200, self.call("identity", "login", body)

    @api("POST", "/api/v1/auth/token", summary="Client credentials of a unit's system → access token",
         tag="auth", request_schema=ClientCredentialsSchema, response_schema=LoginResultSchema,
         errors=(400, 401, 429, 503), rate_limit="auth", public=True)
    def client_token(self, request, body):
        return 200, self.call("identity", "client_token", body)

    @api("POST", "/api/v1/auth/password", summary="Change one's own password", tag="auth", status=204,
         request_schema=PasswordChangeSchema, roles=ANY_ROLE, during_password_change=True, errors=(400, 503))
    def change_password(self, request, body, principal, actor):
        """Identity refuses a department system (no password) and a proxy (in person only)."""
        self.call("identity", "change_password", principal.user_id, body, actor=actor)
        return 204, None

    @api("POST", "/api/v1/auth/logout", summary="Revoke the access token used for this call", tag="auth",
         status=204, roles=ANY_ROLE, during_password_change=True, errors=(503,))
    def logout(self, request, principal):
        self.call("identity", "logout", principal.jti, principal.expires_at)
        self.revocations.revoke(principal.jti, principal.expires_at)  # this instance, before the event
        return 204, None

    @api("GET", "/api/v1/auth/keys", summary="The public keys access tokens are signed with (JWKS)", tag="auth",
         response_schema=JwksSchema, errors=(503,), public=True)
    def keys(self, request):
        return 200, self.call("identity", "jwks")

    @api("GET", "/api/v1/me", summary="Who the access token belongs to", tag="auth", response_schema=MeSchema,
         roles=ANY_ROLE, during_password_change=True, errors=(404, 503))
    def me(self, request, principal):
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
    def act_for(self, request, body, principal, actor):
        """Identity refuses a department system and a proxy's token (no chains)."""
        return 200, self.call("identity", "act_for", principal.user_id, body, actor=actor)
