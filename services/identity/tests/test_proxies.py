"""Proxies (代理人): acting for a principal inside a time window."""
from datetime import timedelta

import jwt
from sqlalchemy import select

from gongwen_identity.models import AuditRecord


def claims_of(world, token):
    # The test's clock is not the wall clock: check the signature, not the times.
    return jwt.decode(token, jwt.PyJWK(world.call("jwks")["keys"][0]).key, algorithms=["ES256"],
                      options={"verify_exp": False, "verify_iat": False})


def settled(world, *usernames):
    """Past the first login: proxies act only for and as people who changed their initial password."""
    for username in usernames:
        new = f"Meadow#2026{len(username)}Zq"
        world.call("change_password", world.user(username).id, {"old_password": world.passwords[username],
                                                                "new_password": new})
        world.passwords[username] = new


def test_a_proxy_acts_for_the_principal_only_inside_the_window(world):
    settled(world, "alice", "bob")
    alice, bob, admin = world.user("alice"), world.user("bob"), world.actor("dave")
    starts, ends = world.clock.now + timedelta(hours=1), world.clock.now + timedelta(days=3)
    proxy = world.call("set_proxy", {"principal_user_id": alice.id, "proxy_user_id": bob.id,
                                     "starts_at": starts.isoformat(), "ends_at": ends.isoformat()}, admin)
    assert world.events("proxy_set") == [proxy]
    assert {k: proxy[k] for k in ("principal_user_id", "proxy_user_id", "unit_code", "set_by")} == {
        "principal_user_id": alice.id, "proxy_user_id": bob.id, "unit_code": "gz-fgw", "set_by": admin["user_id"]}

    def allowed():
        return world.call("proxy_for", bob.id, alice.id)

    assert allowed() is False  # before the window
    refusal = world.refused("act_for", bob.id, {"principal_user_id": alice.id})
    assert (refusal.code, refusal.status) == ("PROXY_NOT_ALLOWED", 403)
    world.clock.now = starts
    assert allowed() is True
    issued = world.call("act_for", bob.id, {"principal_user_id": alice.id})
    claims = claims_of(world, issued["access_token"])
    # RFC 8693: the subject is the principal whose authority is used, ``act`` the person acting.
    assert {k: claims[k] for k in ("sub", "username", "unit", "roles", "act")} == {
        "sub": alice.id, "username": "alice", "unit": "gz-fgw", "roles": ["staff"],
        "act": {"sub": bob.id, "username": "bob"}}
    assert world.refused("act_for", alice.id,
                         {"principal_user_id": bob.id}).code == "PROXY_NOT_ALLOWED"  # not the other way round
    world.clock.now = ends
    assert allowed() is False  # the window is [starts_at, ends_at)
    assert world.refused("act_for", bob.id, {"principal_user_id": alice.id}).code == "PROXY_NOT_ALLOWED"


def test_a_proxy_token_never_outlives_the_window_and_is_audited_with_both_names(world):
    settled(world, "alice", "bob")
    alice, bob = world.user("alice"), world.user("bob")
    now = world.clock.now
    world.call("set_proxy", {"principal_user_id": alice.id, "proxy_user_id": bob.id, "starts_at": now.isoformat(),
                             "ends_at": (now + timedelta(minutes=4)).isoformat()},
               {"user_id": alice.id})
    issued = world.call("act_for", bob.id, {"principal_user_id": alice.id})
    assert issued["expires_in"] == 240  # the window's end, not the usual 15 minutes
    assert claims_of(world, issued["access_token"])["exp"] == int((now + timedelta(minutes=4)).timestamp())
    record = world.session.scalars(select(AuditRecord).where(AuditRecord.action == "proxy_token_issued")).one()
    assert (record.actor, record.proxy_user_id, record.subject_id) == (alice.id, bob.id, alice.id)


def test_what_a_proxy_does_for_an_admin_is_recorded_with_both_names(world):
    settled(world, "bob")
    dave, bob, alice = world.user("dave"), world.user("bob"), world.user("alice")
    now = world.clock.now
    world.call("set_proxy", {"principal_user_id": dave.id, "proxy_user_id": bob.id, "starts_at": now.isoformat(),
                             "ends_at": (now + timedelta(days=1)).isoformat()},
               {"user_id": dave.id})
    as_proxy = {"user_id": dave.id, "proxy_user_id": bob.id}
    world.call("disable_user", alice.id, as_proxy, {"reason": "left the unit"})
    record = world.session.scalars(select(AuditRecord).where(AuditRecord.action == "user_disabled",
                                                             AuditRecord.subject_id == alice.id)).one()
    assert (record.actor, record.proxy_user_id) == (dave.id, bob.id)
    assert world.user("alice").disabled_by == dave.id

    # Credentials and delegation stay personal: a proxy may not change them for the principal.
    carol_key = world.new_key()
    assert world.refused("replace_device", bob.id, {"public_key": world.public_pem(carol_key)},
                         as_proxy).code == "PROXY_NOT_ALLOWED"
    assert world.refused("reset_password", bob.id, {"initial_password": "Thistle#2026north"},
                         as_proxy).code == "PROXY_NOT_ALLOWED"
    assert world.refused("set_proxy", {"principal_user_id": dave.id, "proxy_user_id": alice.id,
                                       "starts_at": now.isoformat(), "ends_at": (now + timedelta(days=1)).isoformat()},
                         as_proxy).code == "PROXY_NOT_ALLOWED"


def test_disabling_the_proxy_ends_the_tokens_they_hold_for_others(world):
    settled(world, "alice", "bob")
    alice, bob, admin = world.user("alice"), world.user("bob"), world.actor("dave")
    now = world.clock.now
    world.call("set_proxy", {"principal_user_id": alice.id, "proxy_user_id": bob.id, "starts_at": now.isoformat(),
                             "ends_at": (now + timedelta(days=1)).isoformat()}, admin)
    jti = claims_of(world, world.call("act_for", bob.id, {"principal_user_id": alice.id})["access_token"])["jti"]
    world.call("disable_user", bob.id, admin, {"reason": "left the unit"})
    assert world.call("is_revoked", jti) is True
    # A disabled proxy's old claims count for nothing, whatever token they still hold.
    assert world.refused("disable_user", world.user("alice").id, {"user_id": alice.id, "proxy_user_id": bob.id},
                         {"reason": "left"}).code == "UNAUTHENTICATED"


def test_a_proxy_must_be_an_active_user_of_the_same_unit_in_a_valid_window(world):
    alice, bob, carol, admin = world.user("alice"), world.user("bob"), world.user("carol"), world.actor("dave")
    now = world.clock.now

    def refused(principal, proxy, starts, ends, actor=admin):
        return world.refused("set_proxy", {"principal_user_id": principal, "proxy_user_id": proxy,
                                           "starts_at": starts.isoformat(), "ends_at": ends.isoformat()}, actor)

    day = timedelta(days=1)
    for proxy, starts, ends, reason in (
            (alice.id, now, now + day, "their own proxy"),
            (carol.id, now, now + day, "active user of the principal's unit"),
            ("no-such-user", now, now + day, "active user of the principal's unit"),
            (bob.id, now + day, now + day, "ends_at must be after starts_at"),
            (bob.id, now - 2 * day, now - day, "already ended")):
        refusal = refused(alice.id, proxy, starts, ends)
        assert (refusal.code, refusal.status) == ("INVALID_PROXY", 422) and reason in refusal.message
    assert world.refused("set_proxy", {"principal_user_id": alice.id, "proxy_user_id": bob.id, "starts_at": "tomorrow",
                                       "ends_at": (now + day).isoformat()}, admin).code == \
        "VALIDATION_ERROR"
    assert refused(carol.id, bob.id, now, now + day).code == "NOT_FOUND"  # carol is not in dave's unit

    world.call("disable_user", bob.id, admin, {"reason": "left the unit"})
    assert "active user" in refused(alice.id, bob.id, now, now + day).message
    assert world.events("proxy_set") == []
