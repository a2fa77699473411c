"""Authentication at the gateway: access tokens are verified here, locally, with the public
keys identity publishes (no RPC per request).

Revoked tokens are known from identity's ``token_revoked`` events, broadcast to every gateway
instance on a non-durable queue, so a gateway that is reconnecting misses those sent meanwhile.
The keyring therefore also reloads the still-valid revocations from identity: before the first
token is accepted, after every (re)connection of the event consumer, and every
``REVOCATION_RELOAD_SECONDS`` (30). A revocation whose event never arrived is thus honoured
within that bound; if identity cannot be reached for twice that long, tokens are refused (503)
rather than honoured on an unknown state. Revocations past their token's expiry are pruned.
"""
import logging
import time
from dataclasses import dataclass
from datetime import datetime

import eventlet
import jwt
from eventlet.semaphore import Semaphore
from nameko.events import EventHandler
from nameko.extensions import DependencyProvider, SharedExtension
from nameko.standalone.rpc import ServiceRpcProxy

from gongwen_common.entrypoints import QueueConsumer
from gongwen_common.errors import ServiceUnavailable, Unauthenticated

security_log = logging.getLogger("gongwen.security")

ANY_ROLE = "any"  # a route for every authenticated caller
LEEWAY = 5  # seconds of clock difference allowed on a token's times


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


def actor_of(principal: Principal) -> dict:
    """Who acts, as services record it (they look the person up in their own records); a proxy
    acting for the user is passed along so every record names both (000 §16)."""
    actor = {"user_id": principal.user_id, "unit_code": principal.unit_code, "roles": list(principal.roles)}
    if principal.proxy_user_id:
        actor["proxy_user_id"] = principal.proxy_user_id
    return actor


def _epoch(expires_at) -> float:
    """A token's expiry as seconds since the epoch: ``exp`` as is, or an RFC 3339 time."""
    if isinstance(expires_at, int | float) and not isinstance(expires_at, bool):
        return float(expires_at)
    try:
        return datetime.fromisoformat(expires_at).timestamp()
    except (TypeError, ValueError):
        return float("inf")  # unreadable: keep it revoked rather than forget it


class Keyring(SharedExtension):
    """identity's token keys and the revoked token ids, shared by a gateway's entrypoints.
    ``clock`` (monotonic, for reload ages) and ``wall`` (epoch, for expiries) are injectable."""

    reload_after = 30.0  # seconds: an unknown key id triggers at most one reload in this time
    verified_tokens = 10_000  # tokens remembered as verified (``_verify``): about 10 MB at most
    clock = staticmethod(time.monotonic)
    wall = staticmethod(time.time)

    def setup(self):
        self.keys = {}
        self.revoked = {}
        self.verified = {}
        self.loaded_at = None
        self.revocations_loaded_at = None
        self._loading = Semaphore()
        config = getattr(self.container, "config", None) or {}
        self.revocations_every = float(config.get("REVOCATION_RELOAD_SECONDS") or 30)

    def start(self):
        self.container.spawn_managed_thread(self._reload_regularly, identifier="keyring.reload_revocations")

    def fetch(self, *, keys=True) -> tuple:
        """(JWKS or None, active revocations) from identity."""
        try:
            with ServiceRpcProxy("identity", self.container.config, timeout=5) as identity:
                return (identity.jwks() if keys else None), identity.active_revocations()
        except Exception as exc:
            raise ServiceUnavailable(message=f"identity's token keys are unavailable ({type(exc).__name__})") from None

    def load(self):
        jwks, revocations = self.fetch()
        self.keys = {key["kid"]: jwt.PyJWK(key).key for key in jwks["keys"]}
        self._take_revocations(revocations)
        self.loaded_at = self.clock()

    def reload_revocations(self):
        _, revocations = self.fetch(keys=False)
        self._take_revocations(revocations)

    def _take_revocations(self, revocations):
        for revocation in revocations:
            self.revoke(revocation["jti"], revocation["expires_at"])
        self.revocations_loaded_at = self.clock()
        self.prune()

    def prune(self):
        """Forget revocations of tokens that have expired anyway (identity keeps them an hour
        longer; the verifier's leeway is seconds)."""
        now = self.wall()
        for jti in [jti for jti, expires_at in self.revoked.items() if expires_at < now - 60]:
            del self.revoked[jti]

    def _reload_regularly(self):
        while True:
            eventlet.sleep(self.revocations_every)
            self.reload_quietly()

    def reload_quietly(self):
        try:
            self.reload_revocations()
        except Exception as exc:  # noqa: BLE001 - the loop must outlive any one failure; the bound still holds
            security_log.warning("revocations not reloaded: %s", getattr(exc, "message", type(exc).__name__))

    def connected(self):
        """The event consumer (re)connected: events sent while it was away are lost, reload."""
        if self.loaded_at is not None:
            eventlet.spawn_n(self.reload_quietly)

    def _stale(self) -> bool:
        return self.loaded_at is None or self.clock() - self.revocations_loaded_at > 2 * self.revocations_every

    def _ensure_current(self):
        if not self._stale():
            return
        with self._loading:  # requests that find the list stale together wait for one RPC
            if self.loaded_at is None:
                self.load()  # the revocations must be known before the first token is accepted
            elif self._stale():
                self.reload_revocations()  # the regular reload has failed: refuse rather than guess

    def key(self, kid):
        if kid not in self.keys and (self.loaded_at is None or self.clock() - self.loaded_at > self.reload_after):
            self.load()
        return self.keys.get(kid)

    def revoke(self, jti, expires_at):
        self.revoked[jti] = _epoch(expires_at)

    def authenticate(self, authorization: str) -> Principal:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated(message="A bearer access token is required.")
        known = self.verified.get(token)
        if known is None:
            claims = self._verify(token)
        else:
            self._ensure_current()
            kid, key, claims = known
            if self.keys.get(kid) is not key:  # the keys were reloaded since: check it afresh
                claims = self._verify(token)
            elif claims["exp"] < self.wall() - LEEWAY:
                raise Unauthenticated(message="The access token has expired.")
        if claims["jti"] in self.revoked:
            raise Unauthenticated(message="The access token was revoked.")
        act = claims.get("act") if isinstance(claims.get("act"), dict) else {}
        return Principal(claims["sub"], claims.get("username", ""), claims.get("unit", ""),
                         tuple(claims.get("roles", ())), bool(claims.get("pwd")), claims["jti"], claims["exp"],
                         act.get("sub"), act.get("username"))

    def _verify(self, token: str) -> dict:
        """The token's claims once its signature and times are checked; remembered with the key
        that verified it, so that its next requests skip the signature check (an office system
        polls with one token for its whole lifetime): expiry and revocation are checked every time."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise Unauthenticated(message="The access token is malformed.") from None
        self._ensure_current()
        key = self.key(kid)
        if key is None:
            raise Unauthenticated(message="The access token was not signed by a key of ours.")
        try:
            claims = jwt.decode(token, key, algorithms=["ES256"], leeway=LEEWAY,
                                options={"require": ["exp", "iat", "sub", "jti"]})
        except jwt.ExpiredSignatureError:
            raise Unauthenticated(message="The access token has expired.") from None
        except jwt.PyJWTError:
            raise Unauthenticated(message="The access token is invalid.") from None
        if len(self.verified) >= self.verified_tokens:
            del self.verified[next(iter(self.verified))]  # the longest remembered
        self.verified[token] = (kid, key, claims)
        return claims


class Revocations(DependencyProvider):
    """Gives the service's ``token_revoked`` handler the keyring it feeds."""

    keyring = Keyring()

    def get_dependency(self, worker_ctx):
        return self.keyring


class RevocationConsumer(QueueConsumer):
    """The services' queue consumer, telling the keyring each time it has (re)connected."""

    keyring = Keyring()

    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        super().on_consume_ready(connection, channel, consumers, **kwargs)
        self.keyring.connected()


class RevocationEvents(EventHandler):
    """``event_handler`` whose consumer reloads the revocations after every (re)connection."""

    queue_consumer = RevocationConsumer()


revocation_handler = RevocationEvents.decorator
