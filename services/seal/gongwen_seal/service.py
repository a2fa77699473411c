"""Seal entrypoints (thin): rules in ``domain``, infrastructure in ``gongwen_common``; the unit
directory copy follows the registry's events (``gongwen_contracts.registry.replica``).

Bytes cross RPC as base64 strings (the serializer is JSON). ``actor`` is the caller as the
gateway vouches for them: ``{"user_id", "unit_code", "roles", "proxy_user_id"?}``. What the
seal's rules need to know of others the service asks itself, with a deadline, whoever calls it:
identity whether custodians are active users of the unit, the registry a unit's kind. What a
caller sends (the gateway forwards HTTP bodies as they come) is validated here, once, with the
seal's contract schemas (``gongwen_contracts.seal.schemas``).
"""

import os

from gongwen_common import rpc as rpc_calls
from gongwen_common.entrypoints import event_handler, rpc, timer
from gongwen_common.errors import DomainError, ValidationFailed, validated
from gongwen_common.idempotency import once
from gongwen_common.metrics import Metrics
from gongwen_common.rpc import RpcProxy, from_wire, to_wire
from gongwen_common.service import CheckedAtStart, ServiceBase
from gongwen_contracts.registry.replica import UnitDirectoryReplica, unit_of
from gongwen_contracts.seal.schemas import SealApplicationSchema, SealRevocationSchema, UseApprovalRequestSchema

from .domain import custody, expiry, keys, sealing, seals
from .domain.settings import SealSettings
from .metrics import OPERATIONS, SEAL_OPERATIONS, SealCollector
from .models import UnitView

# A timer's period is fixed when the class is made: from the environment, not config.yaml.
CERTIFICATE_CHECK_SECONDS = float(os.environ.get("SEAL_CERTIFICATE_CHECK_SECONDS", "3600"))


def _attachments(value) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationFailed({"attachments": ["expected {name: base64}"]})
    return {name: from_wire(data, f"attachments.{name}") for name, data in value.items()}


class SealService(UnitDirectoryReplica, ServiceBase):
    name = "seal"
    unit_view_model = UnitView
    identity = RpcProxy("identity")
    registry = RpcProxy("registry")
    # SEAL_KEK unset (without GONGWEN_DEVELOPMENT_KEYS=1) or malformed: no start, rather than a first seal that fails
    settings_at_start = CheckedAtStart(SealSettings.from_config)
    metrics = Metrics(SealCollector, operations=(SEAL_OPERATIONS, OPERATIONS))

    def _settings(self) -> SealSettings:
        return SealSettings.from_config(self.config)

    def _call(self, proxy, method, *args):
        return rpc_calls.call(proxy, method, *args, timeout=float(self.config.get("RPC_TIMEOUT", 10)))

    def _active_members(self, unit_code, user_ids) -> list[str]:
        """Which of ``user_ids`` are active users of the unit, as identity knows them."""
        return self._call(self.identity, "active_members", unit_code, user_ids)

    def _unit_kind(self, unit_code) -> str | None:
        """The unit's kind (``secrecy_bureau`` …) as the registry knows it; None for no such unit."""
        try:
            return self._call(self.registry, "get_unit", unit_code)["kind"]
        except DomainError as exc:
            if exc.status == 404:
                return None
            raise

    # -- the CA and seals -------------------------------------------------------------------

    @rpc
    def ca_certificate(self):
        """The operator CA's certificate (PEM), made at first use."""
        row, _ = keys.root(self.db, self._settings().kek, self.clock())
        return row.certificate_pem

    @rpc
    def apply_seal(self, request, actor, idempotency_key=None):
        """``request``: ``{unit_code, custody: {required_approvals, custodian_user_ids}}``."""
        application = validated(SealApplicationSchema(), request)
        unit_code, custody_policy = application["unit_code"], application["custody"]
        request = {"unit_code": unit_code, "custody": custody_policy, "actor": actor}
        return once(self.db, "apply_seal", idempotency_key, request,
                    lambda: seals.apply(self.db, unit_code, custody_policy, actor, self.clock(),
                                        self._active_members))

    @rpc
    def set_seal_image(self, serial, png_b64, actor):
        return seals.set_image(self.db, serial, from_wire(png_b64, "image"), actor, self.clock())

    @rpc
    def approve_seal(self, serial, actor):
        return seals.approve(self.db, serial, actor, self._settings(), self.clock())

    @rpc
    def revoke_seal(self, serial, request, actor):
        reason = validated(SealRevocationSchema(), request)["reason"]
        return seals.revoke(self.db, serial, reason, actor, self.clock())

    @rpc
    def get_seal(self, serial, actor):
        return seals.get(self.db, serial, actor)

    @rpc
    def seal_certificate(self, serial):
        return seals.certificate_pem(self.db, serial)

    @rpc
    def seal_image(self, serial):
        return to_wire(seals.image_png(self.db, serial))

    # -- custody ----------------------------------------------------------------------------

    @rpc
    def approve_use(self, serial, request, actor):
        manifest_sha256 = validated(UseApprovalRequestSchema(), request)["manifest_sha256"]
        return custody.approve_use(self.db, serial, manifest_sha256, actor, self._settings().approval_window,
                                   self.clock())

    @rpc
    def approve_destruction(self, serial, actor):
        return custody.approve_destruction(self.db, serial, actor, self.clock(), self._unit_kind)

    # -- sealing and verifying --------------------------------------------------------------

    @rpc
    def sign(self, unit_code, manifest_b64, actor, approval_ids=None):
        """Seal a manifest; returns the detached CMS signature (base64 of DER) and the seal's serial."""
        return sealing.sign(self.db, unit_code, from_wire(manifest_b64, "manifest"), actor, approval_ids,
                            self._settings(), self.clock())

    @rpc
    def verify(self, manifest_b64, signature_b64, unit_code=None, body_b64=None, attachments_b64=None):
        return sealing.verify(self.db, from_wire(manifest_b64, "manifest"), from_wire(signature_b64, "signature"),
                              self._settings(), self.clock(), unit_code, from_wire(body_b64, "body", optional=True),
                              _attachments(attachments_b64))

    @rpc
    def verify_for_print(self, manifest_b64, signature_b64, actor, unit_code=None, body_b64=None,
                         attachments_b64=None, stamp_key=None):
        """The stamp of a granted print: the exchange's ``print_copy`` is the only caller."""
        return sealing.verify_for_print(self.db, from_wire(manifest_b64, "manifest"),
                                        from_wire(signature_b64, "signature"), actor, self._settings(), self.clock(),
                                        unit_code, from_wire(body_b64, "body", optional=True),
                                        _attachments(attachments_b64), stamp_key=stamp_key)

    # -- certificate expiry ------------------------------------------------------------------

    @timer(interval=CERTIFICATE_CHECK_SECONDS)
    def check_certificate_expiry(self):
        """``certificate_expiring`` 60/30/7 days before the CA or a seal expires, once each."""
        return expiry.check(self.db, self.clock())

    # -- the registry's unit events: a renamed unit gets a new seal, a revoked one loses it ----

    @event_handler("registry", "unit_renamed")
    def on_unit_renamed(self, event):
        self.apply_unit_event(event)
        seals.on_unit_renamed(self.db, unit_of(event.data), self.clock())

    @event_handler("registry", "unit_revoked")
    def on_unit_revoked(self, event):
        self.apply_unit_event(event)
        seals.on_unit_revoked(self.db, unit_of(event.data), self.clock())
