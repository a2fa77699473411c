"""Following the unit directory from another service (单位目录副本): the registry's published way
to keep a local copy of units, fed by its events. The copy is the consumer's own table; this
module only says how the registry's unit events apply to it.

Each event type travels on its own queue and workers run concurrently, so a unit's states may
arrive out of order: a state older than the one held (by the registry's ``version``) is ignored.
"""

import sqlalchemy as sa
from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from gongwen_common.db import upsert
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


def create_unit_views(op, without=()) -> None:
    """For a consumer's migration: the ``unit_views`` table as :class:`UnitViewColumns` defines
    it. ``without``: columns that a released revision created only later (identity's first
    revision had no ``version``), so revisions that already ran keep building the same tables."""
    columns = [
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    ]
    op.create_table("unit_views", *(column for column in columns if column.name not in without))


def unit_of(data: dict) -> dict:
    """``unit_registered`` carries the unit view itself; later unit events carry it at ``unit``."""
    return data["unit"] if isinstance(data.get("unit"), dict) else data


def apply_unit(session, model, unit: dict, now) -> bool:
    """Apply one state of a unit to the local copy unless a state as new is already held; True
    if it was applied. One statement decides and writes (an upsert guarded by ``version <``), so
    two handlers applying v2 and v3 at once cannot leave v2 over v3. A state without a version
    (0) is always applied."""
    table, version = model.__table__, unit.get("version", 0)
    values = {"code": unit["code"], "name": unit["name"], "status": unit["status"], "version": version,
              "revision": 1, "updated_at": now}
    statement = upsert(session, model).values(values)
    newer = (statement.excluded.version == 0) | (table.c.version < statement.excluded.version)
    applied = session.execute(statement.on_conflict_do_update(
        index_elements=[table.c.code], where=newer,
        set_={"name": statement.excluded.name, "status": statement.excluded.status,
              "version": statement.excluded.version, "updated_at": statement.excluded.updated_at,
              "revision": table.c.revision + 1}))
    held = session.identity_map.get(session.identity_key(model, (unit["code"],)))
    if held is not None:
        session.expire(held)  # loaded before this statement changed the row: read it again
    return applied.rowcount == 1


def remember_unit(session, model, unit: dict, now):
    """Apply one state of a unit (see :func:`apply_unit`); the copy as now held."""
    apply_unit(session, model, unit, now)
    return session.get(model, unit["code"])


class UnitDirectoryReplica:
    """Mixin for a service (with ``self.db`` and ``self.clock``, as ``ServiceBase`` gives) that keeps
    its own copy of the unit directory.

    Set ``unit_view_model``; override a handler (decorated again) to add effects of one's own.
    """

    unit_view_model = None

    def apply_unit_event(self, event) -> bool:
        """Apply the unit state an event carries; False if a state as new was already held, so
        an override can skip effects of its own for a stale (late or replayed) event."""
        return apply_unit(self.db, self.unit_view_model, unit_of(event.data), event.happened_at(self.clock()))

    @event_handler("registry", "unit_registered")
    def on_unit_registered(self, event):
        self.apply_unit_event(event)

    @event_handler("registry", "unit_approved")
    def on_unit_approved(self, event):
        self.apply_unit_event(event)

    @event_handler("registry", "unit_renamed")
    def on_unit_renamed(self, event):
        self.apply_unit_event(event)

    @event_handler("registry", "unit_revoked")
    def on_unit_revoked(self, event):
        self.apply_unit_event(event)
