"""Listings of users, clients and proxies (API.md "Users"), and revoking a unit's client."""
from datetime import timedelta

import jwt
from sqlalchemy import select

from gongwen_identity.models import AuditRecord


def settled(world, username):
    """Past the first login, so only the role decides."""
    world.call("change_password", world.user(username).id, {"old_password": world.passwords[username],
                                                            "new_password": "Meadow#2026qxZq"})


def usernames(page):
    return [user["username"] for user in page["items"]]


def test_the_operator_lists_every_units_users_and_an_admin_only_its_own(world):
    operator, dave = world.actor("operator"), world.actor("dave")
    assert set(usernames(world.call("list_users", operator))) == {"alice", "bob", "carol", "dave", "operator"}
    assert usernames(world.call("list_users", operator, unit="gz-cz")) == ["carol"]
    assert usernames(world.call("list_users", dave)) == ["alice", "bob", "dave"]
    assert usernames(world.call("list_users", dave, unit="gz-cz")) == []  # never another unit's
    assert usernames(world.call("list_users", dave, q="BO")) == ["bob"]
    assert usernames(world.call("list_users", dave, q="用户 a")) == ["alice"]

    world.call("disable_user", world.user("bob").id, dave, {"reason": "left"})
    assert usernames(world.call("list_users", dave, status="disabled")) == ["bob"]
    first = world.call("list_users", dave, limit=2)
    assert usernames(first) == ["alice", "bob"] and first["next_cursor"] == "bob"
    rest = world.call("list_users", dave, limit=2, cursor=first["next_cursor"])
    assert (usernames(rest), rest["next_cursor"]) == (["dave"], None)

    settled(world, "alice")
    assert world.refused("list_users", world.actor("alice")).code == "FORBIDDEN"  # staff lists nobody
    for bad in ({"status": "gone"}, {"limit": 0}, {"limit": "ten"}, {"q": "x" * 101}):
        refusal = world.refused("list_users", dave, **bad)
        assert (refusal.code, refusal.status) == ("VALIDATION_ERROR", 400), bad


def test_a_revoked_client_issues_no_tokens_and_its_tokens_are_refused(world):
    """Issue 9 item 1: a client's secret is otherwise invisible and eternal."""
    dave = world.actor("dave")
    client = world.call("create_client", "gz-fgw", dave)
    token = world.call("client_token", {"client_id": client["client_id"],
                                        "client_secret": client["client_secret"]})["access_token"]
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]

    listed = world.call("list_clients", "gz-fgw", dave)["items"]
    assert [c["client_id"] for c in listed] == [client["client_id"]]
    assert not {"client_secret", "secret_hash"} & set(listed[0]) and \
        client["client_secret"] not in str(listed) and "argon2" not in str(listed)

    assert world.refused("revoke_client", "gz-cz", client["client_id"], world.actor("operator")).code == "NOT_FOUND"
    world.clock.advance(minutes=1)
    revoked = world.call("revoke_client", "gz-fgw", client["client_id"], dave)
    assert (revoked["status"], revoked["revoked_by"]) == ("revoked", dave["user_id"])
    assert world.call("is_revoked", jti) is True
    assert [e["jti"] for e in world.events("token_revoked")] == [jti]  # every gateway hears of it
    refusal = world.refused("client_token", {"client_id": client["client_id"],
                                             "client_secret": client["client_secret"]})
    assert (refusal.code, refusal.status) == ("ACCOUNT_DISABLED", 401)
    assert world.call("revoke_client", "gz-fgw", client["client_id"], dave)["status"] == "revoked"  # again: same
    assert world.refused("rotate_client", client["client_id"], dave).code == "INVALID_USER_STATE"  # stays revoked
    audit = world.session.scalars(select(AuditRecord).where(AuditRecord.action == "client_revoked")).all()
    assert [(a.actor, a.subject_id) for a in audit] == [(dave["user_id"], client["client_id"])]
    assert world.call("list_clients", "gz-fgw", dave, status="revoked")["items"][0]["revoked_at"]


def test_another_units_clients_are_not_found(world):
    client = world.call("create_client", "gz-cz", world.actor("operator"))
    dave = world.actor("dave")
    for method, args in (("list_clients", ("gz-cz", dave)), ("revoke_client", ("gz-cz", client["client_id"], dave)),
                         ("revoke_client", ("gz-fgw", client["client_id"], dave))):
        refusal = world.refused(method, *args)
        assert (refusal.code, refusal.status) == ("NOT_FOUND", 404), method
    settled(world, "alice")
    assert world.refused("list_clients", "gz-fgw", world.actor("alice")).code == "FORBIDDEN"
    assert world.call("client_token", {"client_id": client["client_id"],
                                       "client_secret": client["client_secret"]})["token_type"] == "Bearer"


def test_proxies_are_listed_by_window_and_unit(world):
    alice, bob, carol = world.user("alice"), world.user("bob"), world.user("carol")
    operator, dave, now = world.actor("operator"), world.actor("dave"), world.clock.now
    current = world.call("set_proxy", {"principal_user_id": alice.id, "proxy_user_id": bob.id,
                                       "starts_at": now.isoformat(), "ends_at": (now + timedelta(hours=1)).isoformat()},
                         dave)
    later = world.call("set_proxy", {"principal_user_id": bob.id, "proxy_user_id": alice.id,
                                     "starts_at": (now + timedelta(days=1)).isoformat(),
                                     "ends_at": (now + timedelta(days=2)).isoformat()}, dave)
    world.new_user("frank", unit_code="gz-cz")
    elsewhere = world.call("set_proxy", {"principal_user_id": carol.id, "proxy_user_id": world.user("frank").id,
                                         "starts_at": now.isoformat(),
                                         "ends_at": (now + timedelta(hours=1)).isoformat()}, operator)

    def ids(page):
        return sorted(p["proxy_id"] for p in page["items"])

    assert ids(world.call("list_proxies", operator)) == sorted(p["proxy_id"] for p in (current, later, elsewhere))
    assert ids(world.call("list_proxies", dave)) == sorted([current["proxy_id"], later["proxy_id"]])
    assert ids(world.call("list_proxies", dave, status="active")) == [current["proxy_id"]]
    assert ids(world.call("list_proxies", dave, status="upcoming")) == [later["proxy_id"]]
    world.clock.advance(hours=2)
    assert ids(world.call("list_proxies", dave, status="ended")) == [current["proxy_id"]]
    assert ids(world.call("list_proxies", dave, q=carol.id)) == []  # another unit's: not listed
    assert ids(world.call("list_proxies", operator, q=carol.id)) == [elsewhere["proxy_id"]]
