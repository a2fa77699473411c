"""Contract: every consumer of the registry's unit events applies them once and in version
order, whatever order the queues deliver them in (worker level, no broker)."""
import importlib
from datetime import UTC, datetime

import pytest
from nameko.testing.services import worker_factory

from gongwen_common.clock import MovableClock
from gongwen_local.stack import SERVICES, service_class

CONSUMERS = [name for name in SERVICES if name != "registry"]


def consumer_worker(consumer, session):
    """A worker of ``consumer`` on ``session``, with an empty config (defaults) and a real clock that
    reads later than every event here: they all arrive late."""
    return worker_factory(service_class(consumer), db=session, config={},
                          clock=MovableClock(datetime(2026, 11, 23, 9, tzinfo=UTC)))


def envelope(event_id, event_type, unit):
    data = unit if event_type == "unit_registered" else {"unit": unit}
    return {"event_id": event_id, "event_type": event_type, "occurred_at": "2026-11-21T08:00:00+00:00", "data": data}


@pytest.mark.parametrize("consumer", CONSUMERS)
def test_a_late_older_state_does_not_overwrite_a_newer_one(consumer, sqlite_session):
    models = importlib.import_module(f"gongwen_{consumer}.models")
    session = sqlite_session(models.Base)
    service = consumer_worker(consumer, session)
    unit = {"code": "gz-fgw", "name": "广州市发改委", "kind": "department"}

    service.on_unit_renamed(envelope("e-3", "unit_renamed", {**unit, "name": "广州市发展和改革委员会",
                                                              "status": "active", "version": 3}))
    service.on_unit_registered(envelope("e-1", "unit_registered", {**unit, "status": "applied", "version": 1}))
    service.on_unit_approved(envelope("e-2", "unit_approved", {**unit, "status": "active", "version": 2}))
    service.on_unit_renamed(envelope("e-3", "unit_renamed", {**unit, "name": "重复", "status": "active",
                                                              "version": 3}))  # redelivered: ignored

    view = session.get(models.UnitView, "gz-fgw")
    assert (view.name, view.status, view.version, view.revision) == ("广州市发展和改革委员会", "active", 3, 1)
    service.on_unit_revoked(envelope("e-4", "unit_revoked", {**unit, "status": "revoked", "version": 4}))
    assert session.get(models.UnitView, "gz-fgw").status == "revoked"


@pytest.mark.parametrize("consumer", CONSUMERS)
def test_the_copy_is_dated_by_the_registry_event_not_by_its_late_arrival(consumer, sqlite_session):
    models = importlib.import_module(f"gongwen_{consumer}.models")
    session = sqlite_session(models.Base)
    service = consumer_worker(consumer, session)
    unit = {"code": "gz-fgw", "name": "广州市发改委", "kind": "department"}

    service.on_unit_registered(envelope("e-1", "unit_registered", {**unit, "status": "applied", "version": 1}))
    approved = {**envelope("e-2", "unit_approved", {**unit, "status": "active", "version": 2}),
                "occurred_at": "2026-11-22T09:30:00+00:00"}
    service.on_unit_approved(approved)

    view = session.get(models.UnitView, "gz-fgw")
    assert view.updated_at == datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
