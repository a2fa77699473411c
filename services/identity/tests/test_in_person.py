"""Credentials and accounts are made in person (issue 9, item 1): whatever creates, replaces or
reveals a credential or an account refuses a proxy (代理人) acting for the principal, in
identity itself and not only at the gateway; so does revoking a client."""
from datetime import timedelta

import pytest

from gongwen_identity.models import User


def for_dave_by_alice(world) -> dict:
    """alice (gz-fgw staff) acting for dave, gz-fgw's admin, as the gateway passes a proxy's token."""
    return {"user_id": world.user("dave").id, "unit_code": "gz-fgw", "roles": ["admin"],
            "proxy_user_id": world.user("alice").id}


def new_user_request(world, username="eve"):
    key = world.new_key()
    return {"username": username, "name": "用户", "unit_code": "gz-fgw", "roles": ["staff"], "mobile": "13800138000",
            "initial_password": "Orchid#2026-xyq", "device_public_key": world.public_pem(key)}


def test_a_proxy_cannot_create_client_credentials(world):
    refusal = world.refused("create_client", "gz-fgw", for_dave_by_alice(world))
    assert (refusal.code, refusal.status) == ("PROXY_NOT_ALLOWED", 403)
    assert world.call("list_clients", "gz-fgw", world.actor("dave"))["items"] == []


def test_a_proxy_cannot_create_or_approve_an_account(world):
    refusal = world.refused("create_user", new_user_request(world), for_dave_by_alice(world))
    assert (refusal.code, refusal.status) == ("PROXY_NOT_ALLOWED", 403)
    assert world.session.query(User).filter_by(username="eve").count() == 0
    pending = world.call("create_user", new_user_request(world), world.actor("dave"))
    assert pending["status"] == "pending"
    operator = world.user("operator")
    # A proxy token for the operator (the cast has one operator-unit user: it stands in for both).
    operator_by_proxy = {"user_id": operator.id, "proxy_user_id": operator.id}
    assert world.refused("approve_user", pending["user_id"], operator_by_proxy).code == "PROXY_NOT_ALLOWED"
    assert world.call("approve_user", pending["user_id"], world.actor("operator"))["status"] == "active"


@pytest.mark.parametrize("method", ["rotate_client", "revoke_client"])
def test_a_proxy_cannot_rotate_or_revoke_client_credentials(world, method):
    client = world.call("create_client", "gz-fgw", world.actor("dave"))
    args = (client["client_id"],) if method == "rotate_client" else ("gz-fgw", client["client_id"])
    refusal = world.refused(method, *args, for_dave_by_alice(world))
    assert (refusal.code, refusal.status) == ("PROXY_NOT_ALLOWED", 403)
    assert world.call("client_token", {"client_id": client["client_id"],
                                       "client_secret": client["client_secret"]})["token_type"] == "Bearer"


def test_a_proxy_cannot_reset_a_password_or_replace_a_u_key(world):
    bob = world.user("bob")
    for method, args in (("reset_password", (bob.id, {"initial_password": "Saffron#2026new"})),
                         ("replace_device", (bob.id, {"public_key": world.public_pem(world.new_key())}))):
        refusal = world.refused(method, *args, for_dave_by_alice(world))
        assert (refusal.code, refusal.status) == ("PROXY_NOT_ALLOWED", 403), method


def test_a_proxy_cannot_change_the_principals_password_or_chain_to_another_proxy(world):
    dave, alice, bob = world.user("dave"), world.user("alice"), world.user("bob")
    by_proxy = for_dave_by_alice(world)
    refusal = world.refused("change_password", dave.id, {"old_password": world.passwords["dave"],
                                                         "new_password": "Sunrise#2026tea"}, actor=by_proxy)
    assert (refusal.code, refusal.status) == ("PROXY_NOT_ALLOWED", 403)
    assert world.user("dave").failed_attempts == 0  # refused before any password work
    # dave is bob's proxy now; alice, acting for dave, may not act for bob through him.
    world.call("change_password", bob.id, {"old_password": world.passwords["bob"], "new_password": "Meadow#2026qxZq"})
    now = world.clock.now
    world.call("set_proxy", {"principal_user_id": bob.id, "proxy_user_id": dave.id, "starts_at": now.isoformat(),
                             "ends_at": (now + timedelta(hours=1)).isoformat()},
               world.actor("dave"))
    refusal = world.refused("act_for", dave.id, {"principal_user_id": bob.id}, actor=by_proxy)
    assert (refusal.code, refusal.status) == ("PROXY_NOT_ALLOWED", 403)
    assert world.call("act_for", dave.id, {"principal_user_id": bob.id},
                      actor=world.actor("dave"))["proxy_user_id"] == dave.id
    assert alice.id in by_proxy.values()
