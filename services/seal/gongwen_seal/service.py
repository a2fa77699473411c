"""Seal entrypoints (thin): rules in ``domain``, infrastructure in ``gongwen_common``."""
from gongwen_common.clock import utcnow
from gongwen_common.entrypoints import event_handler
from gongwen_common.service import ServiceBase

from . import domain


class SealService(ServiceBase):
    name = "seal"

    @event_handler("registry", "unit_registered")
    def on_unit_registered(self, event):
        domain.remember_unit(self.db, event.data, utcnow())

    @event_handler("registry", "unit_approved")
    def on_unit_approved(self, event):
        domain.remember_unit(self.db, event.data["unit"], utcnow())

    @event_handler("registry", "unit_renamed")
    def on_unit_renamed(self, event):
        domain.remember_unit(self.db, event.data["unit"], utcnow())

    @event_handler("registry", "unit_revoked")
    def on_unit_revoked(self, event):
        domain.remember_unit(self.db, event.data["unit"], utcnow())
