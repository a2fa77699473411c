"""Authentication at the gateway: access tokens are verified here, locally, with the public
keys identity publishes (no RPC per request); revoked tokens are known from identity's
``token_revoked`` events, broadcast to every gateway instance, and loaded once at start."""
import logging
import time
from dataclasses import dataclass

import jwt
from nameko.extensions import DependencyProvider, SharedExtension
from nameko.standalone.rpc import ServiceRpcProxy

from gongwen_common.errors import ServiceUnavailable, Unauthenticated

security_log = logging.getLogger("gongwen.security")

ANY_ROLE = "any"  # a route for every authenticated caller


@dataclass(frozen=True)
class Principal:
    """Who calls: a person or a unit's system account (``client:<id>``), from a verified token."""

    user_id: str
    username: str
    unit_code: str
    roles: tuple
    must_change_password: bool
    jti: str
    expires_at: int
    # A proxy (代理人) acting for this user: the token's RFC 8693 ``act`` claim.
    proxy_user_id: str | None = None
    proxy_username: str | None = None

    def may(self, roles) -> bool:
        return roles == ANY_ROLE or bool(set(self.roles) & set(roles))

    @property
    def is_client(self) -> bool:
        return self.user_id.startswith("client:")


class Keyring(SharedExtension):
    """identity's token keys and the revoked token ids, shared by a gateway's entrypoints."""

    reload_after = 30.0  # seconds: an unknown key id triggers at most one reload in this time

    def setup(self):
        self.keys = {}
        self.revoked = {}
        self.loaded_at = None

    def load(self):
        try:
            with ServiceRpcProxy("identity", self.container.config, timeout=5) as identity:
                jwks, revocations = identity.jwks(), identity.active_revocations()
        except Exception as exc:
            raise ServiceUnavailable(message=f"identity's token keys are unavailable ({type(exc).__name__})") from None
        self.keys = {key["kid"]: jwt.PyJWK(key).key for key in jwks["keys"]}
        for revocation in revocations:
            self.revoke(revocation["jti"], revocation["expires_at"])
        self.loaded_at = time.monotonic()

    def key(self, kid):
        if kid not in self.keys and (self.loaded_at is None or time.monotonic() - self.loaded_at > self.reload_after):
            self.load()
        return self.keys.get(kid)

    def revoke(self, jti, expires_at):
        self.revoked[jti] = expires_at

    def authenticate(self, authorization: str) -> Principal:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated(message="A bearer access token is required.")
        try:
            kid = jwt.get_unverified_header(token.strip()).get("kid")
        except jwt.PyJWTError:
            raise Unauthenticated(message="The access token is malformed.") from None
        if self.loaded_at is None:
            self.load()  # the revocations must be known before the first token is accepted
        key = self.key(kid)
        if key is None:
            raise Unauthenticated(message="The access token was not signed by a key of ours.")
        try:
            claims = jwt.decode(token.strip(), key, algorithms=["ES256"], leeway=5,
                                options={"require": ["exp", "iat", "sub", "jti"]})
        except jwt.ExpiredSignatureError:
            raise Unauthenticated(message="The access token has expired.") from None
        except jwt.PyJWTError:
            raise Unauthenticated(message="The access token is invalid.") from None
        if claims["jti"] in self.revoked:
            raise Unauthenticated(message="The access token was revoked.")
        act = claims.get("act") if isinstance(claims.get("act"), dict) else {}
        return Principal(claims["sub"], claims.get("username", ""), claims.get("unit", ""),
                         tuple(claims.get("roles", ())), bool(claims.get("pwd")), claims["jti"], claims["exp"],
                         act.get("sub"), act.get("username"))


class Revocations(DependencyProvider):
    """Gives the service's ``token_revoked`` handler the keyring it feeds."""

    keyring = Keyring()

    def get_dependency(self, worker_ctx):
        return self.keyring
