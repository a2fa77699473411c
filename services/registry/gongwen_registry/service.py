"""Registry entrypoints (thin): rules in ``domain``, infrastructure in ``gongwen_common``."""
from sqlalchemy import select

from gongwen_common.clock import utcnow
from gongwen_common.entrypoints import rpc
from gongwen_common.errors import NotFound
from gongwen_common.idempotency import once
from gongwen_common.service import ServiceBase

from . import domain
from .models import Unit


class RegistryService(ServiceBase):
    name = "registry"

    @rpc
    def register_unit(self, application, idempotency_key=None):
        def perform():
            unit = domain.register_unit(self.db, application, utcnow())
            view = domain.unit_view(unit)
            self.db.emit("unit_registered", view)
            return view

        return once(self.db, "register_unit", idempotency_key, application, perform)

    @rpc
    def get_unit(self, code):
        unit = self.db.get(Unit, code)
        if unit is None:
            raise NotFound(message=f"no unit {code!r}")
        return domain.unit_view(unit)

    @rpc
    def list_units(self, q=None, parent=None, limit=50, cursor=None):
        """Directory page ordered by code; ``cursor`` is the last code of the previous page."""
        query = select(Unit).order_by(Unit.code).limit(limit + 1)
        if q:
            query = query.where(Unit.name.contains(q))
        if parent:
            query = query.where(Unit.parent_code == parent)
        if cursor:
            query = query.where(Unit.code > cursor)
        units = list(self.db.scalars(query))
        page = units[:limit]
        return {"items": [domain.unit_view(u) for u in page],
                "next_cursor": page[-1].code if len(units) > limit else None}
