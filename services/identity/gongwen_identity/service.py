"""Identity entrypoints (thin): rules in ``domain``, infrastructure in ``gongwen_common``.

``actor`` arguments are the caller's verified token claims or ``{"user_id": …}``; identity
reads the acting user's roles and unit from its own tables. What a caller sends (the gateway
forwards HTTP bodies as they come) is validated here, once, with identity's contract schemas
(``gongwen_contracts.identity.schemas``).
"""
import logging
from datetime import timedelta

from gongwen_common.entrypoints import event_handler, rpc, timer
from gongwen_common.errors import validated
from gongwen_common.idempotency import once
from gongwen_common.service import CheckedAtStart, ServiceBase
from gongwen_contracts.identity.schemas import (
    ActForRequestSchema,
    ChallengeRequestSchema,
    ClientCredentialsSchema,
    DeviceSchema,
    DisableSchema,
    LoginSchema,
    PasswordChangeSchema,
    ProxySchema,
    ResetPasswordSchema,
)
from gongwen_contracts.registry.replica import UnitDirectoryReplica

from .domain import authentication, bootstrap, clients, proxies, tokens, unit_events, users
from .domain.errors import AuthenticationFailed
from .domain.policies import IdentitySettings
from .models import UnitView

log = logging.getLogger(__name__)


class IdentityService(UnitDirectoryReplica, ServiceBase):
    name = "identity"
    unit_view_model = UnitView
    # IDENTITY_KEK unset (without GONGWEN_DEVELOPMENT_KEYS=1) or malformed: no start, rather than logins that fail
    kek_at_start = CheckedAtStart(lambda config: tokens.key_encryption_key(config.get("IDENTITY_KEK")))

    def _settings(self) -> IdentitySettings:
        return IdentitySettings.from_config(self.config)

    def _keeping_refusal(self, rule, *args):
        """Commit a refused authentication's effects (consumed challenge, failure count, audit)
        before the refusal rolls the worker's transaction back."""
        try:
            return rule(*args)
        except AuthenticationFailed:
            self.db.commit()
            raise

    # -- users ------------------------------------------------------------------------------

    @rpc
    def create_user(self, request, actor, idempotency_key=None):
        settings = self._settings()
        return once(self.db, "create_user", idempotency_key, users.idempotency_fingerprint(request, actor),
                    lambda: users.create_user(self.db, request, actor, settings.password, self.clock()))

    @rpc
    def get_user(self, user_id, actor):
        return users.get_user(self.db, user_id, actor)

    @rpc
    def active_members(self, unit_code, user_ids):
        """Which of ``user_ids`` are active users of ``unit_code`` (e.g. a seal's named custodians)."""
        return users.active_members(self.db, unit_code, user_ids)

    @rpc
    def members_with_mobiles(self, unit_code, user_ids):
        """``{user_id: has_mobile}`` for the active users of ``unit_code`` among ``user_ids``."""
        return users.members_with_mobiles(self.db, unit_code, user_ids)

    @rpc
    def change_mobile(self, user_id, request, actor):
        return users.change_mobile(self.db, user_id, request, actor, self.clock())

    @rpc
    def list_users(self, actor, unit=None, status=None, q=None, limit=50, cursor=None):
        return users.list_users(self.db, actor, unit, status, q, limit, cursor)

    @rpc
    def me(self, user_id):
        return users.me(self.db, user_id)

    @rpc
    def approve_user(self, user_id, actor):
        return users.approve_user(self.db, user_id, actor, self.clock())

    @rpc
    def disable_user(self, user_id, actor, request):
        reason = validated(DisableSchema(), request)["reason"]
        return users.disable_user(self.db, user_id, actor, reason, self.clock())

    @rpc
    def reset_password(self, user_id, request, actor):
        new_initial_password = validated(ResetPasswordSchema(), request)["initial_password"]
        settings = self._settings()
        return users.reset_password(self.db, user_id, new_initial_password, actor, settings.password, self.clock())

    @rpc
    def unlock_user(self, user_id, actor):
        return users.unlock_user(self.db, user_id, actor, self.clock())

    @rpc
    def replace_device(self, user_id, request, actor):
        public_key_pem = validated(DeviceSchema(), request)["public_key"]
        return users.replace_device(self.db, user_id, public_key_pem, actor, self.clock())

    @rpc
    def bootstrap_operator(self, username, password, public_key_pem, name="Operator", unit_code="operator"):
        return bootstrap.bootstrap_operator(self.db, username, password, public_key_pem, name, unit_code,
                                            self._settings().password, self.clock())

    # -- authentication ---------------------------------------------------------------------

    @rpc
    def issue_challenge(self, request):
        username = validated(ChallengeRequestSchema(), request)["username"]
        return authentication.issue_challenge(self.db, username, self._settings(), self.clock())

    @rpc
    def login(self, request):
        """``request``: ``{username, password, challenge_id, signature}`` (the signature base64)."""
        data = validated(LoginSchema(), request)
        return self._keeping_refusal(authentication.login, self.db, data["username"], data["password"],
                                     data["challenge_id"], data["signature"], self._settings(), self.clock())

    @rpc
    def change_password(self, user_id, request, actor=None):
        data = validated(PasswordChangeSchema(), request)
        self._keeping_refusal(authentication.change_password, self.db, user_id, data["old_password"],
                              data["new_password"], self._settings(), self.clock(), actor)

    @rpc
    def logout(self, jti, exp):
        return {"revoked": tokens.logout(self.db, jti, exp, self.clock())}

    @rpc
    def active_revocations(self):
        return tokens.active_revocations(self.db, self.clock())

    @rpc
    def is_revoked(self, jti):
        return tokens.is_revoked(self.db, jti)

    @rpc
    def jwks(self):
        return tokens.jwks(self.db, self._settings().kek, self.clock())

    @rpc
    def purge_expired(self):
        return tokens.purge_expired(self.db, self.clock(), self._challenge_retention())

    @timer(interval=600)
    def purge_expired_regularly(self):
        """Expired challenges and long-expired tokens go; every instance may run it (deletes only)."""
        counts = tokens.purge_expired(self.db, self.clock(), self._challenge_retention())
        if any(counts.values()):
            log.info("purged expired login state", extra=counts)

    def _challenge_retention(self):
        return timedelta(minutes=float(self.config.get("IDENTITY_CHALLENGE_RETENTION_MINUTES") or 0))

    # -- department systems -----------------------------------------------------------------

    @rpc
    def create_client(self, unit_code, actor):
        # No idempotency record: it would keep the one-time secret in clear.
        return clients.create_client(self.db, unit_code, actor, self.clock())

    @rpc
    def rotate_client(self, client_id, actor):
        return clients.rotate_client(self.db, client_id, actor, self.clock())

    @rpc
    def revoke_client(self, unit_code, client_id, actor):
        return clients.revoke_client(self.db, unit_code, client_id, actor, self.clock())

    @rpc
    def list_clients(self, unit_code, actor, status=None, q=None, limit=50, cursor=None):
        return clients.list_clients(self.db, unit_code, actor, status, q, limit, cursor)

    @rpc
    def client_token(self, request):
        data = validated(ClientCredentialsSchema(), request)
        return clients.client_token(self.db, data["client_id"], data["client_secret"], self._settings(), self.clock())

    # -- proxies ----------------------------------------------------------------------------

    @rpc
    def set_proxy(self, request, actor, idempotency_key=None):
        """``request``: ``{principal_user_id, proxy_user_id, starts_at, ends_at}``, times in RFC 3339
        with an offset."""
        window = validated(ProxySchema(), request)
        principal_user_id, proxy_user_id = window["principal_user_id"], window["proxy_user_id"]
        starts_at, ends_at = window["starts_at"].isoformat(), window["ends_at"].isoformat()
        request = proxies.idempotency_fingerprint(principal_user_id, proxy_user_id, starts_at, ends_at, actor)
        return once(self.db, "set_proxy", idempotency_key, request,
                    lambda: proxies.set_proxy(self.db, principal_user_id, proxy_user_id, starts_at, ends_at,
                                              actor, self.clock()))

    @rpc
    def list_proxies(self, actor, unit=None, status=None, q=None, limit=50, cursor=None):
        return proxies.list_proxies(self.db, actor, self.clock(), unit, status, q, limit, cursor)

    @rpc
    def proxy_for(self, proxy_user_id, principal_user_id):
        return proxies.proxy_for(self.db, proxy_user_id, principal_user_id, self.clock())

    @rpc
    def act_for(self, proxy_user_id, request, actor=None):
        """A token for the proxy to act with the principal's authority inside the window."""
        principal_user_id = validated(ActForRequestSchema(), request)["principal_user_id"]
        return proxies.issue_proxy_token(self.db, proxy_user_id, principal_user_id, self._settings(), self.clock(),
                                         actor)

    # -- the registry's unit events (registered, approved, renamed: ``UnitDirectoryReplica``) --

    @event_handler("registry", "unit_revoked")
    def on_unit_revoked(self, event):
        unit_events.unit_revoked(self.db, event.data, event.happened_at(self.clock()), self.clock())
