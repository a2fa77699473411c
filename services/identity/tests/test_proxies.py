"""Proxies (代理人): acting for a principal inside a time window."""
from datetime import timedelta


def test_a_proxy_acts_for_the_principal_only_inside_the_window(world):
    alice, bob, admin = world.user("alice"), world.user("bob"), world.actor("dave")
    starts, ends = world.clock.now + timedelta(hours=1), world.clock.now + timedelta(days=3)
    proxy = world.call("set_proxy", alice.id, bob.id, starts.isoformat(), ends.isoformat(), admin)
    assert world.events("proxy_set") == [proxy]
    assert {k: proxy[k] for k in ("principal_user_id", "proxy_user_id", "unit_code", "set_by")} == {
        "principal_user_id": alice.id, "proxy_user_id": bob.id, "unit_code": "gz-fgw", "set_by": admin["user_id"]}

    def allowed():
        return world.call("proxy_for", bob.id, alice.id)

    assert allowed() is False  # before the window
    refusal = world.refused("acting_as", bob.id, alice.id)
    assert (refusal.code, refusal.status) == ("PROXY_NOT_ALLOWED", 403)
    world.clock.now = starts
    assert allowed() is True
    assert world.call("acting_as", bob.id, alice.id) == {
        "user_id": alice.id, "username": "alice", "name": alice.name, "unit_code": "gz-fgw", "roles": ["staff"],
        "proxy_user_id": bob.id}
    assert world.call("proxy_for", alice.id, bob.id) is False  # not the other way round
    world.clock.now = ends
    assert allowed() is False  # the window is [starts_at, ends_at)


def test_a_proxy_must_be_an_active_user_of_the_same_unit_in_a_valid_window(world):
    alice, bob, carol, admin = world.user("alice"), world.user("bob"), world.user("carol"), world.actor("dave")
    now = world.clock.now

    def refused(principal, proxy, starts, ends, actor=admin):
        return world.refused("set_proxy", principal, proxy, starts.isoformat(), ends.isoformat(), actor)

    day = timedelta(days=1)
    for proxy, starts, ends, reason in (
            (alice.id, now, now + day, "their own proxy"),
            (carol.id, now, now + day, "active user of the principal's unit"),
            ("no-such-user", now, now + day, "active user of the principal's unit"),
            (bob.id, now + day, now + day, "ends_at must be after starts_at"),
            (bob.id, now - 2 * day, now - day, "already ended")):
        refusal = refused(alice.id, proxy, starts, ends)
        assert (refusal.code, refusal.status) == ("INVALID_PROXY", 422) and reason in refusal.message
    assert world.refused("set_proxy", alice.id, bob.id, "tomorrow", (now + day).isoformat(), admin).code == \
        "VALIDATION_ERROR"
    assert refused(carol.id, bob.id, now, now + day).code == "NOT_FOUND"  # carol is not in dave's unit

    world.call("disable_user", bob.id, admin, "left the unit")
    assert "active user" in refused(alice.id, bob.id, now, now + day).message
    assert world.events("proxy_set") == []
