"""identity's unit read model through its worker (worker_factory, SQLite, no broker)."""
from datetime import UTC, datetime

import jwt
from nameko.testing.services import worker_factory
from sqlalchemy import select

from gongwen_common.clock import MovableClock
from gongwen_common.tables import OutboxEvent
from gongwen_identity.models import Base, UnitView
from gongwen_identity.service import IdentityService


def test_a_redelivered_unit_registered_event_is_applied_once(sqlite_session):
    session = sqlite_session(Base)
    envelope = {"event_id": "e-1", "event_type": "unit_registered", "occurred_at": "2026-11-21T08:00:00+00:00",
                "data": {"code": "gz-fgw", "name": "广州市发改委", "status": "applied"}}
    service = worker_factory(IdentityService, db=session, clock=MovableClock(datetime(2026, 11, 21, 9, tzinfo=UTC)))
    service.on_unit_registered(envelope)
    service.on_unit_registered(envelope)
    view = session.get(UnitView, "gz-fgw")
    assert (view.name, view.status, view.revision) == ("广州市发改委", "applied", 1)


def test_unit_events_apply_in_registry_version_order_whatever_the_queues_deliver(sqlite_session):
    """The contract of ``tests/test_unit_event_contract.py``, which every other consumer meets."""
    session = sqlite_session(Base)
    service = worker_factory(IdentityService, db=session, clock=MovableClock(datetime(2026, 11, 21, 9, tzinfo=UTC)))
    unit = {"code": "gz-fgw", "name": "广州市发改委", "kind": "department"}

    def envelope(event_id, event_type, state):
        data = state if event_type == "unit_registered" else {"unit": state}
        return {"event_id": event_id, "event_type": event_type, "occurred_at": "2026-11-21T08:00:00+00:00",
                "data": data}

    service.on_unit_renamed(envelope("e-3", "unit_renamed", {**unit, "name": "广州市发展和改革委员会",
                                                              "status": "active", "version": 3}))
    service.on_unit_registered(envelope("e-1", "unit_registered", {**unit, "status": "applied", "version": 1}))
    service.on_unit_approved(envelope("e-2", "unit_approved", {**unit, "status": "active", "version": 2}))
    service.on_unit_renamed(envelope("e-3", "unit_renamed", {**unit, "name": "重复", "status": "active",
                                                              "version": 3}))  # redelivered: ignored
    view = session.get(UnitView, "gz-fgw")
    assert (view.name, view.status, view.version, view.revision) == ("广州市发展和改革委员会", "active", 3, 1)
    service.on_unit_revoked(envelope("e-4", "unit_revoked", {**unit, "status": "revoked", "version": 4}))
    assert session.get(UnitView, "gz-fgw").status == "revoked"


def test_a_revoked_unit_disables_its_users_and_ends_their_sessions(world):
    alice, bob = world.user("alice"), world.user("bob")
    session = jwt.decode(world.login("alice")["access_token"], options={"verify_signature": False})
    world.unit_changed("unit_revoked", "gz-fgw", status="revoked")

    for user in (alice, bob, world.user("dave")):
        user = world.user(user.username)
        assert (user.status, user.disabled_reason, user.disabled_by) == ("disabled", "unit revoked", "system:registry")
    assert world.user("carol").status == "active"  # another unit
    assert sorted(e["user"]["username"] for e in world.events("user_disabled")) == ["alice", "bob", "dave"]
    assert [e["jti"] for e in world.events("token_revoked")] == [session["jti"]]
    assert world.call("is_revoked", session["jti"]) is True
    assert world.login_refused("alice").code == "ACCOUNT_DISABLED"
    refusal = world.refused("create_user", {
        "username": "new.one", "name": "新人", "unit_code": "gz-fgw", "roles": ["staff"],
        "initial_password": "Orchid#2026-new", "device_public_key": world.public_pem(world.new_key())},
        world.actor("operator"))
    assert (refusal.code, refusal.status) == ("UNKNOWN_UNIT", 422)


def test_a_unit_revocation_disables_its_users_at_identitys_clock_and_keeps_the_registrys_time(world):
    """Identity's "now" is its injected clock, not the wall clock; the copy keeps when the
    registry revoked the unit (the event's time)."""
    world.user("alice")
    revoked_at = world.clock.advance(days=3)
    world.unit_changed("unit_revoked", "gz-fgw", status="revoked")
    assert world.user("alice").disabled_at == revoked_at
    disabled = world.session.scalars(select(OutboxEvent).where(OutboxEvent.event_type == "user_disabled")).all()
    assert {row.payload["occurred_at"] for row in disabled} == {revoked_at.isoformat()}
    assert world.session.get(UnitView, "gz-fgw").updated_at == datetime(2026, 11, 21, 8, tzinfo=UTC)
