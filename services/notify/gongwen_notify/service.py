"""Notify entrypoints (thin): infrastructure in ``gongwen_common``; the unit directory copy
follows the registry's published events (``gongwen_registry.replica``); delivery to Twilio and its
status callbacks in ``delivery``."""
import os

from gongwen_common.entrypoints import rpc, timer
from gongwen_common.errors import NotFound
from gongwen_common.service import ServiceBase
from gongwen_registry.replica import UnitDirectoryReplica

from .delivery import costs
from .delivery.dispatch import apply_callback
from .delivery.service import Delivery, TwilioSignatureInvalid, signed_by_twilio
from .models import UnitView

# Timers' periods are fixed when the class is made: from the environment, not config.yaml.
DELIVERY_INTERVAL = float(os.environ.get("DELIVERY_POLL_INTERVAL", "0.5"))
RECONCILE_INTERVAL = float(os.environ.get("DELIVERY_RECONCILE_INTERVAL", "30"))


class NotifyService(UnitDirectoryReplica, ServiceBase):
    name = "notify"
    unit_view_model = UnitView
    delivery = Delivery()

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
