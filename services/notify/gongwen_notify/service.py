"""Notify entrypoints (thin): infrastructure in ``gongwen_common``; the unit directory copy
follows the registry's published events (``gongwen_contracts.registry.replica``)."""
from gongwen_common.service import ServiceBase
from gongwen_contracts.registry.replica import UnitDirectoryReplica

from .models import UnitView


class NotifyService(UnitDirectoryReplica, ServiceBase):
    name = "notify"
    unit_view_model = UnitView
