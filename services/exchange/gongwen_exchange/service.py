"""Exchange entrypoints (thin): rules in ``domain``, infrastructure in ``gongwen_common``; the unit
directory copy follows the registry's events (``gongwen_contracts.registry.replica``).

Bytes cross RPC as base64 strings (the serializer is JSON). ``actor`` is the caller as the
gateway vouches for them: ``{"user_id", "unit_code", "roles", "proxy_user_id"?}``. Sealing and
seal checks are the seal service's, called with a deadline.
"""
import os

from gongwen_common import manifest as manifests
from gongwen_common import rpc as rpc_calls
from gongwen_common.entrypoints import event_handler, rpc, timer
from gongwen_common.errors import ValidationFailed
from gongwen_common.idempotency import once
from gongwen_common.metrics import Metrics
from gongwen_common.rpc import RpcProxy, from_wire, to_wire
from gongwen_common.service import INSTANCE_ID, InProcess, ServiceBase
from gongwen_contracts.registry.replica import UnitDirectoryReplica

from .domain import canary, documents, receiving, retention, revocation, supervision
from .domain.deadlines import DeadlinePolicy
from .metrics import ExchangeCollector
from .models import UnitView

MiB = 1024 * 1024
# Timers' periods are fixed when the class is made: from the environment, not config.yaml. The
# canary's schedule is CANARY_INTERVAL_SECONDS (config); this is only how often it looks.
CANARY_TICK = float(os.environ.get("CANARY_TICK_SECONDS", "5"))
# The overdue sweep's period is fixed when the class is made: from the environment, not config.yaml.
SWEEP_SECONDS = float(os.environ.get("EXCHANGE_SWEEP_SECONDS", "15"))


class ExchangeService(UnitDirectoryReplica, ServiceBase):
    name = "exchange"
    unit_view_model = UnitView
    seal = RpcProxy("seal")
    metrics = Metrics(ExchangeCollector)
    recent_presence = InProcess(supervision.RecentPresence)

    def _policy(self) -> DeadlinePolicy:
        return DeadlinePolicy.from_config(self.config)

    def _limits(self) -> tuple[int, int]:
        return (int(self.config.get("EXCHANGE_MAX_FILE_BYTES") or 20 * MiB),
                int(self.config.get("EXCHANGE_MAX_DOCUMENT_BYTES") or 50 * MiB))

    def _seal(self, method, *args, **kwargs):
        return rpc_calls.call(self.seal, method, *args, timeout=float(self.config.get("RPC_TIMEOUT", 10)), **kwargs)

    def _seal_check(self, printed_by=None):
        """The seal service's check of a stored document, as the receiving rules call it: a plain
        verification, or with ``printed_by`` the verification stamp for a printed copy."""
        def check(manifest, signature, unit_code, body, attachments, stamp_key=None):
            parts = {"unit_code": unit_code, "body_b64": to_wire(body),
                     "attachments_b64": {name: to_wire(data) for name, data in attachments.items()}}
            if printed_by is None:
                return self._seal("verify", to_wire(manifest), to_wire(signature), **parts)
            # One stamp per copy: a print retried after a rollback gets the stamp already issued.
            return self._seal("verify_for_print", to_wire(manifest), to_wire(signature), printed_by,
                              stamp_key=stamp_key, **parts)
        return check

    def _sealer(self, actor):
        """The seal service sealing a manifest for ``actor`` (the sending clerk)."""
        def seal(manifest, approval_ids):
            sealed = self._seal("sign", actor.get("unit_code"), to_wire(manifest), actor, approval_ids=approval_ids)
            return {"signature": from_wire(sealed["signature"], "signature"), "seal_serial": sealed["seal_serial"]}
        return seal

    # -- sending ----------------------------------------------------------------------------

    @rpc
    def send_document(self, metadata, body_b64, body_name, attachments, actor, idempotency_key=None):
        """``attachments``: ``[{"name", "data"}]`` with base64 data."""
        if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
            raise ValidationFailed({"attachments": ["expected [{name, data}]"]})
        files = [(a.get("name"), from_wire(a.get("data"), "attachments")) for a in attachments]
        body = from_wire(body_b64, "body")

        def perform():
            return documents.send(self.db, metadata, body, body_name, files, actor, self._sealer(actor),
                                  self._policy(), supervision.working_calendar(self.db), self._limits(), self.clock())

        request = {"metadata": metadata, "body": manifests.sha256_hex(body), "body_name": body_name,
                   "attachments": [(n, manifests.sha256_hex(d)) for n, d in files], "actor": actor}
        return once(self.db, "send_document", documents.idempotency_key(idempotency_key), request, perform)

    @rpc
    def seal_document(self, document_id, request, actor):
        """Seal and send a document that awaited its custodians' approvals (two-person custody):
        ``request`` is ``{seal_use_approval_ids}``."""
        return documents.seal_document(self.db, document_id, request, actor, self._sealer(actor),
                                       self._policy(), supervision.working_calendar(self.db), self.clock())

    @rpc
    def outbox(self, actor, limit=50, cursor=None):
        return documents.outbox(self.db, actor, limit, cursor)

    @rpc
    def receipts(self, document_id, actor):
        return documents.receipts(self.db, document_id, actor, self.clock())

    @rpc
    def recall(self, document_id, actor):
        return documents.recall(self.db, document_id, actor, self.clock())

    @rpc
    def resend(self, document_id, request, actor):
        return documents.resend(self.db, document_id, request, actor, self._policy(),
                                supervision.working_calendar(self.db), self.clock())

    @rpc
    def paper_delivery(self, document_id, request, actor):
        return documents.paper_delivery(self.db, document_id, request, actor, self.clock())

    @rpc
    def grant_print_request(self, document_id, request_id, actor):
        return receiving.grant_print_request(self.db, document_id, request_id, actor, self.clock())

    @rpc
    def refuse_print_request(self, document_id, request_id, actor):
        return receiving.refuse_print_request(self.db, document_id, request_id, actor, self.clock())

    # -- receiving --------------------------------------------------------------------------

    @rpc
    def inbox(self, actor, state=None, urgency=None, since=None, limit=50, cursor=None):
        now = self.clock()
        supervision.seen(self.db, actor.get("user_id"), actor.get("unit_code"), actor.get("roles"), "inbox", now,
                         self.recent_presence)
        return receiving.inbox(self.db, actor, state, urgency, receiving.parse_since(since), limit, cursor, now)

    @rpc
    def archival_record(self, document_id):
        """For the archive: bytes as base64 (the RPC serializer is JSON)."""
        record = documents.archival_record(self.db, document_id)
        for key in ("manifest", "signature", "body"):
            record[key] = to_wire(record[key]) if record[key] is not None else None
        for attachment in record["attachments"]:
            attachment["data"] = to_wire(attachment["data"])
        return record

    @rpc
    def get_document(self, document_id, actor):
        return receiving.get_document(self.db, document_id, actor, self.clock())

    @rpc
    def download(self, document_id, part, actor):
        data, name, media_type = receiving.download(self.db, document_id, part, actor, self.clock())
        return {"data": to_wire(data), "name": name, "media_type": media_type}

    @rpc
    def sign_for(self, document_id, actor):
        return receiving.sign_for(self.db, document_id, actor, self._seal_check(), self.clock())

    @rpc
    def register(self, document_id, request, actor):
        return receiving.register(self.db, document_id, request, actor, self.clock())

    @rpc
    def return_document(self, document_id, request, actor):
        return receiving.return_document(self.db, document_id, request, actor, self.clock())

    @rpc
    def print_copy(self, document_id, actor, idempotency_key=None):
        return receiving.print_once(self.db, document_id, actor, idempotency_key, self._seal_check(printed_by=actor),
                                    self.clock())

    @rpc
    def request_print_copies(self, document_id, request, actor):
        return receiving.request_print_copies(self.db, document_id, request, actor, self.clock())

    @rpc
    def request_resend(self, document_id, request, actor):
        return receiving.request_resend(self.db, document_id, request, actor, self.clock())

    # -- deadlines, calendar, presence -------------------------------------------------------

    @timer(interval=SWEEP_SECONDS)
    def sweep_overdue(self):
        """``receipt_overdue`` once per late receipt; safe with several instances sweeping."""
        return supervision.sweep_overdue(self.db, self.clock())

    @rpc
    def load_calendar(self, year, request, actor):
        return supervision.load_calendar(self.db, year, request, actor, self.clock())

    @rpc
    def calendar_status(self):
        return supervision.calendar_status(self.db, self.clock())

    @rpc
    def presence_report(self, day, actor, unit_code=None):
        return supervision.presence_report(self.db, supervision.parse_day(day), actor, self._policy(), unit_code)

    @rpc
    def health(self):
        """As every service's, plus the working calendar's coverage: a year without a holiday
        schedule is a warning for the operator (deadlines would count weekends only)."""
        health = ServiceBase.health(self)
        if health["database"] != "ok":
            return health
        status = supervision.calendar_status(self.db, self.clock())
        # The canary is the whole suite's (seal service, broker), not this instance's readiness: the
        # gateway's /health degrades on it; the exchange stays ready.
        return {**health, "calendar": status["coverage"], "warnings": status["warnings"],
                "canary": canary.view(self.db, canary.CanarySettings.from_config(self.config), self.clock())}

    @timer(interval=CANARY_TICK)
    def canary_round(self):
        """The canary's round when due, by the one instance that claims it (``domain.canary``)."""
        def send(metadata, actor):
            return documents.send(self.db, metadata, b"<p>canary</p>", "canary.html", [], actor, self._sealer(actor),
                                  self._policy(), supervision.working_calendar(self.db), self._limits(), self.clock(),
                                  to_self=True)

        def sign_for(document_id, actor):
            return receiving.sign_for(self.db, document_id, actor, self._seal_check(), self.clock())

        return canary.run_round(self.db, canary.CanarySettings.from_config(self.config), send, sign_for, self.clock,
                                INSTANCE_ID)

    @event_handler("registry", "unit_revoked")
    def on_unit_revoked(self, event):
        """The unit leaves the directory copy, and its documents go as the revoking decision says."""
        self.apply_unit_event(event)
        revocation.carry_out_unit_revocation(self.db, event.data, event.happened_at(self.clock()),
                                             self._policy(), supervision.working_calendar(self.db), self.clock())

    @event_handler("seal", "seal_revoked")
    def on_seal_revoked(self, event):
        """Documents awaiting the revoked seal are withdrawn; those already sent stand."""
        revocation.withdraw_awaiting_seal(self.db, event.data, event.happened_at(self.clock()),
                                          self.clock())

    @event_handler("archive", "package_archived")
    def on_package_archived(self, event):
        """The archive has the document's package: its content may leave after the exchange's retention."""
        retention.mark_archived(self.db, event.data, event.happened_at(self.clock()))

    @timer(interval=60)
    def purge_archived_content(self):
        """Bodies and attachments of archived documents past ``EXCHANGE_CONTENT_RETENTION_DAYS``."""
        return retention.purge_expired_content(self.db, int(self.config.get("EXCHANGE_CONTENT_RETENTION_DAYS") or 365),
                                               self.clock())

    @event_handler("identity", "user_logged_in")
    def on_user_logged_in(self, event):
        data = event.data
        supervision.seen(self.db, data.get("user_id"), data.get("unit_code"), data.get("roles"), "login",
                         event.happened_at(self.clock()))
