"""Identity's events are what its contract (``gongwen_contracts.identity.events``) says: each one
an account's life emits loads with the schema of its type (worker level, no broker)."""
from datetime import timedelta

import jwt

from gongwen_contracts.events import event_types, load_event_data


def test_every_event_of_an_accounts_life_loads_with_its_contract_schema(world):
    dave = world.actor("dave")  # gz-fgw's admin
    world.new_user("wang.wu", actor="dave")
    world.call("approve_user", world.user("wang.wu").id, world.actor("operator"))
    world.call("change_mobile", world.user("wang.wu").id, {"mobile": "13900139000"}, dave)
    world.login("alice")
    world.login_refused("alice", password="not her password")
    alice = world.user("alice").id
    world.call("change_password", alice, {"old_password": world.passwords["alice"], "new_password": "Meadow#2026qxZq"})
    world.passwords["alice"] = "Meadow#2026qxZq"
    now = world.clock.now
    world.call("set_proxy", {"principal_user_id": alice, "proxy_user_id": world.user("dave").id,
                             "starts_at": now.isoformat(), "ends_at": (now + timedelta(days=1)).isoformat()},
               world.actor("alice"))
    claims = jwt.decode(world.login("alice")["access_token"], options={"verify_signature": False})
    world.call("logout", claims["jti"], claims["exp"])
    world.call("disable_user", world.user("wang.wu").id, dave, {"reason": "left the unit"})
    for event_type in event_types("identity"):
        emitted = world.events(event_type)
        assert emitted, f"no {event_type} event"
        for data in emitted:
            load_event_data("identity", event_type, data)

