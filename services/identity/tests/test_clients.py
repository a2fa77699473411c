"""Client credentials of a unit's department system."""
import jwt
from sqlalchemy import select

from gongwen_identity.models import Client


def claims(world, token):
    return jwt.decode(token, jwt.PyJWK(world.call("jwks")["keys"][0]).key, algorithms=["ES256"])


def test_a_unit_system_gets_tokens_with_its_client_credentials(world):
    admin = world.actor("dave")
    created = world.call("create_client", "gz-fgw", admin)
    client_id, secret = created["client_id"], created["client_secret"]
    assert len(secret) >= 43  # 32 random bytes, URL-safe base64
    stored = world.session.scalars(select(Client)).one()
    assert stored.secret_hash.startswith("$argon2id$") and secret not in stored.secret_hash

    result = world.call("client_token", {"client_id": client_id, "client_secret": secret})
    assert (result["token_type"], result["expires_in"], result["must_change_password"]) == ("Bearer", 900, False)
    token = claims(world, result["access_token"])
    assert {k: token[k] for k in ("sub", "unit", "roles", "pwd")} == {
        "sub": f"client:{client_id}", "unit": "gz-fgw", "roles": ["system"], "pwd": False}

    for wrong_id, wrong_secret in ((client_id, secret[:-1] + "x"), ("no-such-client", secret)):
        refusal = world.refused("client_token", {"client_id": wrong_id, "client_secret": wrong_secret})
        assert (refusal.code, refusal.status) == ("INVALID_CREDENTIALS", 401)
    assert world.refused("create_client", "gz-cz", admin).code == "FORBIDDEN"  # not dave's unit
    as_system = {"sub": f"client:{client_id}", "roles": ["system"]}
    assert world.refused("rotate_client", client_id, as_system).code == "FORBIDDEN"  # systems manage no accounts

    rotated = world.call("rotate_client", client_id, admin)
    assert rotated["client_id"] == client_id and rotated["client_secret"] != secret
    assert world.call("is_revoked", token["jti"]) is True  # the old secret's tokens end with it
    assert world.refused("client_token", {"client_id": client_id,
                                          "client_secret": secret}).code == "INVALID_CREDENTIALS"
    fresh = claims(world, world.call("client_token", {"client_id": client_id,
                                                      "client_secret": rotated["client_secret"]})["access_token"])

    world.unit_changed("unit_revoked", "gz-fgw", status="revoked")
    refusal = world.refused("client_token", {"client_id": client_id, "client_secret": rotated["client_secret"]})
    assert (refusal.code, refusal.status) == ("ACCOUNT_DISABLED", 401)
    assert world.call("is_revoked", fresh["jti"]) is True
    assert world.refused("create_client", "gz-fgw", world.actor("operator")).code == "UNKNOWN_UNIT"


# -- issue 10: identity refuses these itself, not only the gateway ------------------------------

def as_system(client_id) -> dict:
    """A department system's actor, as the gateway passes a client-credentials token."""
    return {"user_id": f"client:{client_id}", "unit_code": "gz-fgw", "roles": ["system"]}


def test_a_department_system_has_no_password_to_change(world):
    client_id = world.call("create_client", "gz-fgw", world.actor("dave"))["client_id"]
    for actor in (as_system(client_id), None):
        refusal = world.refused("change_password", f"client:{client_id}", {"old_password": "anything",
                                                                           "new_password": "Gw-New-2026?north"}, actor)
        # Refused as a system (403), not taken for a wrong password (401).
        assert (refusal.code, refusal.status) == ("FORBIDDEN", 403)
        assert "department system" in refusal.message
    assert world.events("password_changed") == []


def test_a_department_system_cannot_be_a_proxy(world):
    client_id = world.call("create_client", "gz-fgw", world.actor("dave"))["client_id"]
    alice = world.user("alice")
    for actor in (as_system(client_id), None):
        refusal = world.refused("act_for", f"client:{client_id}", {"principal_user_id": alice.id}, actor)
        assert (refusal.code, refusal.status) == ("PROXY_NOT_ALLOWED", 403)
        assert refusal.message == "A department system cannot be a proxy."
    # Nor does a person get a proxy's token while the caller is a system.
    refusal = world.refused("act_for", alice.id, {"principal_user_id": world.user("bob").id}, as_system(client_id))
    assert refusal.message == "A department system cannot be a proxy."
