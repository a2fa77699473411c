"""Seal entrypoints (thin): infrastructure in ``gongwen_common``; the unit directory copy
follows the registry's published events (``gongwen_registry.replica``)."""
from gongwen_common.service import ServiceBase
from gongwen_registry.replica import UnitDirectoryReplica

from .models import UnitView


class SealService(UnitDirectoryReplica, ServiceBase):
    name = "seal"
    unit_view_model = UnitView
