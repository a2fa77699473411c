"""seal's unit read model through its worker (worker_factory, SQLite, no broker)."""
from nameko.testing.services import worker_factory

from gongwen_seal.models import Base, UnitView
from gongwen_seal.service import SealService


def test_a_redelivered_unit_registered_event_is_applied_once(sqlite_session):
    session = sqlite_session(Base)
    envelope = {"event_id": "e-1", "event_type": "unit_registered", "occurred_at": "2026-11-21T08:00:00+00:00",
                "data": {"code": "gz-fgw", "name": "广州市发改委", "status": "applied"}}
    service = worker_factory(SealService, db=session)
    service.on_unit_registered(envelope)
    service.on_unit_registered(envelope)
    view = session.get(UnitView, "gz-fgw")
    assert (view.name, view.status, view.revision) == ("广州市发改委", "applied", 1)
