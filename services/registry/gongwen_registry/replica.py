"""Following the unit directory from another service (单位目录副本): the registry's published way
to keep a local copy of units, fed by its events. The copy is the consumer's own table; this
module only says how the registry's unit events apply to it.

Each event type travels on its own queue and workers run concurrently, so a unit's states may
arrive out of order: a state older than the one held (by the registry's ``version``) is ignored.
"""
from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from gongwen_common.clock import utcnow
from gongwen_common.entrypoints import event_handler
from gongwen_common.tables import UtcDateTime


class UnitViewColumns:
    """Columns of a consumer's ``unit_views`` table (declare ``class UnitView(UnitViewColumns, Base)``)."""

    @declared_attr.directive
    def __tablename__(cls):
        return "unit_views"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # the registry's version
    revision: Mapped[int] = mapped_column(Integer, default=0)  # how many states were applied here
    updated_at = mapped_column(UtcDateTime, nullable=False)


def unit_of(data: dict) -> dict:
    """``unit_registered`` carries the unit view itself; later unit events carry it at ``unit``."""
    return data["unit"] if isinstance(data.get("unit"), dict) else data


def remember_unit(session, model, unit: dict, now):
    """Apply one state of a unit to the local copy, unless a newer one is already held."""
    view = session.get(model, unit["code"])
    version = unit.get("version", 0)
    if view is None:
        view = model(code=unit["code"], version=0, revision=0)
        session.add(view)
    elif version and version <= view.version:
        return view
    view.name, view.status, view.version, view.updated_at = unit["name"], unit["status"], version, now
    view.revision += 1
    return view


class UnitDirectoryReplica:
    """Mixin for a service (with ``self.db``) that keeps its own copy of the unit directory.

    Set ``unit_view_model``; override a handler (decorated again) to add effects of one's own.
    """

    unit_view_model = None

    def remember_unit(self, data: dict):
        return remember_unit(self.db, self.unit_view_model, unit_of(data), utcnow())

    @event_handler("registry", "unit_registered")
    def on_unit_registered(self, event):
        self.remember_unit(event.data)

    @event_handler("registry", "unit_approved")
    def on_unit_approved(self, event):
        self.remember_unit(event.data)

    @event_handler("registry", "unit_renamed")
    def on_unit_renamed(self, event):
        self.remember_unit(event.data)

    @event_handler("registry", "unit_revoked")
    def on_unit_revoked(self, event):
        self.remember_unit(event.data)
