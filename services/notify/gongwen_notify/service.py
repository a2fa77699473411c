"""Notify entrypoints (thin): infrastructure in ``gongwen_common``; the unit directory copy
follows the registry's published events (``gongwen_contracts.registry.replica``); the rules are in
``domain`` (escalation) and ``delivery`` (getting each message to Twilio once, and its status
callbacks).

Consumed: identity's ``user_created``, ``user_approved``, ``user_disabled`` and
``user_mobile_changed`` (the people it may reach); the registry's ``contacts_changed``; the
exchange's ``document_sent``, ``receipt_overdue`` (steps to schedule) and ``receipt_signed``,
``document_returned``, ``receipt_paper_served``, ``receipt_closed``, ``document_recalled``,
``document_completed`` (what is pending is cancelled); the seal's ``certificate_expiring`` (an SMS
to the operators and the unit's admin)."""
import os

from gongwen_common.entrypoints import event_handler, rpc, timer
from gongwen_common.errors import NotFound, TwilioSignatureInvalid
from gongwen_common.metrics import Metrics
from gongwen_common.service import INSTANCE_ID, CheckedAtStart, ServiceBase
from gongwen_contracts.registry.replica import UnitDirectoryReplica

from .delivery import costs
from .delivery.dispatch import apply_callback
from .delivery.service import Delivery, signed_by_twilio
from .domain import certificates, dispatch, escalation, people, policies, proof, templates
from .domain.settings import NotifySettings
from .metrics import NotifyCollector
from .models import UnitView

# Timers' periods are fixed when the class is made: from the environment, not config.yaml.
DELIVERY_INTERVAL = float(os.environ.get("DELIVERY_POLL_INTERVAL", "0.5"))
RECONCILE_INTERVAL = float(os.environ.get("DELIVERY_RECONCILE_INTERVAL", "30"))
# How often the escalation timer looks for due steps; the steps' times are the clock's, not this.
TICK_SECONDS = float(os.environ.get("NOTIFY_TICK_SECONDS", "1"))


class NotifyService(UnitDirectoryReplica, ServiceBase):
    name = "notify"
    unit_view_model = UnitView
    delivery = Delivery()
    settings_at_start = CheckedAtStart(NotifySettings.from_config)
    metrics = Metrics(NotifyCollector)

    # -- delivery (送达) ---------------------------------------------------------------------------

    @timer(interval=DELIVERY_INTERVAL)
    def send_due_messages(self):
        """Due messages to Twilio; safe with several instances (claims with FOR UPDATE SKIP LOCKED)."""
        if self.delivery.dispatcher:
            self.delivery.dispatcher.run_once()

    @timer(interval=RECONCILE_INTERVAL)
    def reconcile_messages(self):
        """The status of messages whose callback never came, fetched from Twilio."""
        dispatcher = self.delivery.dispatcher
        while dispatcher and dispatcher.reconcile() >= dispatcher.settings.batch:
            pass

    @rpc
    def twilio_status(self, channel, message_id, params, signature):
        """A status callback the gateway received (and checked): checked again here, where the message
        is, then applied forward only."""
        if not signed_by_twilio(self.delivery.settings, channel, message_id, params, signature):
            raise TwilioSignatureInvalid(message="The X-Twilio-Signature does not sign this callback.")
        moved = apply_callback(self.db, message_id, channel, params, self.clock(),
                               price_after=self.delivery.settings.price_after)
        if moved is None:
            raise NotFound(message=f"no {channel} message {message_id}")
        return {"message_id": message_id, "changed": moved}

    @rpc
    def unit_sms(self, unit_code, month, actor, limit=100, cursor=None):
        return costs.unit_month(self.db, unit_code, month, actor, limit=limit, cursor=cursor)

    # -- escalation (催办) -------------------------------------------------------------------------

    def _settings(self) -> NotifySettings:
        return NotifySettings.from_config(self.config)

    def _at(self, event):
        return event.happened_at(self.clock())

    # -- people and contacts -------------------------------------------------------------

    def _apply_user(self, event):
        people.apply_user(self.db, (event.data or {}).get("user"), self._at(event))

    @event_handler("identity", "user_created")
    def on_user_created(self, event):
        self._apply_user(event)

    @event_handler("identity", "user_approved")
    def on_user_approved(self, event):
        self._apply_user(event)

    @event_handler("identity", "user_disabled")
    def on_user_disabled(self, event):
        self._apply_user(event)

    @event_handler("identity", "user_mobile_changed")
    def on_user_mobile_changed(self, event):
        self._apply_user(event)

    @event_handler("registry", "contacts_changed")
    def on_contacts_changed(self, event):
        self.apply_unit_event(event)
        data = event.data or {}
        people.apply_contacts(self.db, data.get("unit") or {}, data.get("contacts"), self._at(event))

    # -- the exchange's documents --------------------------------------------------------

    @event_handler("exchange", "document_sent")
    def on_document_sent(self, event):
        escalation.document_sent(self.db, event.data, self._at(event), self._settings())

    @event_handler("exchange", "receipt_overdue")
    def on_receipt_overdue(self, event):
        escalation.receipt_overdue(self.db, event.data, self._at(event), self._settings())

    @event_handler("exchange", "receipt_signed")
    def on_receipt_signed(self, event):
        escalation.close_receipt(self.db, event.event_type, event.data, self._at(event))

    @event_handler("exchange", "document_returned")
    def on_document_returned(self, event):
        escalation.close_receipt(self.db, event.event_type, event.data, self._at(event))

    @event_handler("exchange", "receipt_paper_served")
    def on_receipt_paper_served(self, event):
        escalation.close_receipt(self.db, event.event_type, event.data, self._at(event))

    @event_handler("exchange", "receipt_closed")
    def on_receipt_closed(self, event):
        escalation.close_receipt(self.db, event.event_type, event.data, self._at(event))

    @event_handler("exchange", "document_recalled")
    def on_document_recalled(self, event):
        escalation.close_document(self.db, event.event_type, event.data, self._at(event))

    @event_handler("exchange", "document_completed")
    def on_document_completed(self, event):
        escalation.close_document(self.db, event.event_type, event.data, self._at(event))

    # -- the seal's certificates -----------------------------------------------------------

    @event_handler("seal", "certificate_expiring")
    def on_certificate_expiring(self, event):
        certificates.certificate_expiring(self.db, event.data, self.clock(), self._settings())

    # -- the timer -----------------------------------------------------------------------

    @timer(interval=TICK_SECONDS)
    def escalate(self):
        """Fire due steps (each once, whatever the instances) and queue what is ready."""
        settings = self._settings()
        return escalation.tick(self.db, self.clock(), INSTANCE_ID, settings,
                               lambda session, now: dispatch.dispatch(session, now, settings))

    # -- proof, policies, templates ------------------------------------------------------

    @rpc
    def document_notifications(self, document_id, actor):
        return proof.notifications(self.db, document_id, actor)

    @rpc
    def archival_notifications(self, document_id):
        """Every unit's notifications of a document, for the archive's package: service to service
        only (no actor; the gateway has no route to it)."""
        return proof.evidence(self.db, document_id)

    @rpc
    def resolve_link(self, code):
        return proof.resolve_link(self.db, code, self.clock(), self._settings().link_ttl)

    @rpc
    def get_policy(self, urgency, actor):
        return policies.get_default(self.db, urgency, actor, self._settings())

    @rpc
    def put_policy(self, urgency, policy, actor):
        return policies.put_default(self.db, urgency, policy, actor, self._settings(), self.clock())

    @rpc
    def get_unit_policy(self, unit_code, actor):
        return policies.get_unit(self.db, unit_code, actor, self._settings())

    @rpc
    def put_unit_policy(self, unit_code, policy, actor):
        return policies.put_unit(self.db, unit_code, policy, actor, self._settings(), self.clock())

    @rpc
    def get_template(self, name, actor):
        return templates.get(self.db, name, actor, self._settings())

    @rpc
    def put_template(self, name, template, actor):
        return templates.put(self.db, name, template, actor, self._settings(), self.clock())
