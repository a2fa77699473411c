"""Archive entrypoints (thin): rules in ``domain``, infrastructure in ``gongwen_common``; the unit
directory copy follows the registry's events (``gongwen_contracts.registry.replica``).

The ledger takes every event of every service: one queue per source service bound to all its
routing keys (``#``), through the same reliable handler as any consumer (claimed event id, so
nothing is applied twice; requeued on failure, so nothing is skipped). Each queue has one active
consumer however many instances run (RabbitMQ's single active consumer) and each instance one
worker (``max_workers: 1`` in its config), so each source's events enter the ledger in the order
the source published them: a document's steps in causal order. Appends from different sources,
in different instances, take turns on the ledger's size row (``ledger._state``, locked).

Work done once at N instances: the tree head of a schedule tick (judged under that lock), a
document's package (its job's row lock, then its primary key), a disposal (the package's row lock)."""

from datetime import date

from gongwen_common import rpc as rpc_calls
from gongwen_common.entrypoints import event_handler, rpc, timer
from gongwen_common.errors import ValidationFailed
from gongwen_common.rpc import RpcProxy, to_wire
from gongwen_common.service import CheckedAtStart, ServiceBase
from gongwen_contracts.registry.replica import UnitDirectoryReplica

from .domain import archiving, ledger, report_formats, reports, retention, search
from .domain.settings import ArchiveSettings
from .models import UnitView

ALL_EVENTS = "#"
TREE_HEAD_TICK_SECONDS = 5
PACKAGE_TICK_SECONDS = 2
REPORT_FORMATS = ("json", "csv", "html", "pdf")


class ArchiveService(UnitDirectoryReplica, ServiceBase):
    name = "archive"
    unit_view_model = UnitView
    exchange = RpcProxy("exchange")
    seal = RpcProxy("seal")
    notify = RpcProxy("notify")
    # ARCHIVE_KEK unset (without GONGWEN_DEVELOPMENT_KEYS=1) or malformed: no start, rather than unsigned heads
    settings_at_start = CheckedAtStart(ArchiveSettings.from_config)

    def _settings(self) -> ArchiveSettings:
        return ArchiveSettings.from_config(self.config)

    def _call(self, proxy, method, *args):
        return rpc_calls.call(proxy, method, *args, timeout=float(self.config.get("RPC_TIMEOUT", 10)))

    def _sources(self) -> archiving.Sources:
        return archiving.Sources(
            record=lambda document_id: self._call(self.exchange, "archival_record", document_id),
            ca_pem=lambda: self._call(self.seal, "ca_certificate"),
            seal_pem=lambda serial: self._call(self.seal, "seal_certificate", serial),
            notifications=lambda document_id: self._call(self.notify, "archival_notifications", document_id),
        )

    def _append(self, source, event):
        ledger.append(self.db, source, event, self.clock())

    @event_handler("registry", ALL_EVENTS, ordered=True)
    def ledger_registry(self, event):
        self._append("registry", event)

    @event_handler("identity", ALL_EVENTS, ordered=True)
    def ledger_identity(self, event):
        self._append("identity", event)

    @event_handler("seal", ALL_EVENTS, ordered=True)
    def ledger_seal(self, event):
        self._append("seal", event)

    @event_handler("exchange", ALL_EVENTS, ordered=True)
    def ledger_exchange(self, event):
        self._append("exchange", event)
        if event.event_type == "document_sent":
            search.index_sent(self.db, event.data, event.happened_at(self.clock()))
        elif event.event_type in ("document_completed", "document_recalled"):
            search.index_status(self.db, event.data)
        if event.event_type == "document_completed":
            archiving.queue_package(self.db, event.data["id"], self.clock())

    @event_handler("notify", ALL_EVENTS, ordered=True)
    def ledger_notify(self, event):
        self._append("notify", event)

    @timer(interval=TREE_HEAD_TICK_SECONDS)
    def sign_tree_head_on_schedule(self):
        """A new signed head once the last is ``LEDGER_TREE_HEAD_SECONDS`` old (by the injected clock);
        once per tick however many instances run it (``ledger.publish_when_due``)."""
        return ledger.publish_when_due(self.db, self._settings(), self.clock())

    @timer(interval=PACKAGE_TICK_SECONDS)
    def build_archival_packages(self):
        """Completed documents' packages: built, checked, kept, entered in the ledger."""
        archiving.build_due(self.db, self._settings(), self._sources(), self.clock())

    @rpc
    def archival_package(self, document_id, actor):
        data, name = archiving.package_for(self.db, self._settings(), self._sources(), document_id, actor,
                                           self.clock())
        return {"data": to_wire(data), "name": name, "media_type": "application/zip"}

    @rpc
    def search_documents(self, actor, q=None, start=None, end=None, unit=None, limit=50, cursor=None):
        """``start``/``end``: ISO dates (the gateway validated them)."""
        return search.search(self.db, actor, q, date.fromisoformat(start) if start else None,
                             date.fromisoformat(end) if end else None, unit, limit, cursor)

    @rpc
    def approve_disposal(self, document_id, actor):
        return retention.approve_disposal(self.db, document_id, actor, self.clock())

    @rpc
    def publish_tree_head(self):
        """Sign the ledger as it is now (operations and tests; the timer does it on schedule)."""
        return ledger.publish_tree_head(self.db, self._settings(), self.clock())

    @rpc
    def ledger_tree_head(self):
        """The latest signed head; before the first scheduled one, a head signed now."""
        if ledger.latest_head(self.db) is None:
            ledger.publish_tree_head(self.db, self._settings(), self.clock())
        return ledger.tree_head(self.db)

    @rpc
    def ledger_keys(self):
        return ledger.keys(self.db)

    @rpc
    def ledger_entry(self, index, actor):
        return ledger.entry(self.db, index, actor)

    @rpc
    def ledger_entries(self, start, limit, actor):
        return ledger.entries(self.db, start, limit, actor)

    @rpc
    def ledger_inclusion_proof(self, index, tree_size):
        return ledger.inclusion_proof(self.db, index, tree_size)

    @rpc
    def ledger_consistency_proof(self, first, second):
        return ledger.consistency_proof(self.db, first, second)


    # --- supervision reports (督查通报) -----------------------------------------------------------

    # a REPORT_TIMEZONE or REPORT_ELECTRONIC_TARGET it cannot use: no start, rather than a 500 per report
    report_settings_at_start = CheckedAtStart(reports.ReportSettings.from_config)

    @rpc
    def supervision_report(self, first, last, format, actor):
        """The period's report as the caller may see it: the dict for ``json``, else the file
        (``{"data": base64, "media_type", "name"}``) for ``csv``, ``html`` or ``pdf``."""
        if format not in REPORT_FORMATS:
            raise ValidationFailed({"format": [f"one of {', '.join(REPORT_FORMATS)}"]})
        report = reports.supervision(
            self.db, first, last, actor, reports.ReportSettings.from_config(self.config),
            lambda day: self._call(self.exchange, "presence_report", day.isoformat(), actor), self.clock())
        if format == "json":
            return report
        data, media_type, name = report_formats.render(report, format)
        return {"data": to_wire(data), "media_type": media_type, "name": name}
