"""Identity validates each request body it is forwarded, once, with its contract schema: the
gateway passes bodies as sent, so a wrong type, a missing or an unknown field is refused here."""
import pytest
from sqlalchemy import func, select

from gongwen_common.tables import OutboxEvent


def calls(world):
    """Each RPC taking a forwarded body: (method, arguments before the body, after it)."""
    alice, dave = world.user("alice").id, world.actor("dave")
    return [("issue_challenge", (), ()), ("login", (), ()), ("client_token", (), ()),
            ("change_password", (alice,), ()), ("act_for", (alice,), ()), ("disable_user", (alice, dave), ()),
            ("reset_password", (alice,), (dave,)), ("replace_device", (alice,), (dave,)), ("set_proxy", (), (dave,))]


@pytest.mark.parametrize("body, field", [({"x-unknown": 1}, "x-unknown"), (["not", "an", "object"], "_schema")])
def test_identity_refuses_a_forwarded_body_its_contract_schema_refuses(world, body, field):
    before = world.session.scalar(select(func.count()).select_from(OutboxEvent))
    for method, head, tail in calls(world):
        refusal = world.refused(method, *head, body, *tail)
        assert (refusal.code, refusal.status) == ("VALIDATION_ERROR", 400), method
        assert field in refusal.fields, (method, refusal.fields)
    assert world.session.scalar(select(func.count()).select_from(OutboxEvent)) == before


def test_a_field_of_the_wrong_type_is_a_validation_error_naming_it(world):
    refusal = world.refused("login", {"username": 7, "password": ["x"], "challenge_id": "c", "signature": "s"})
    assert (refusal.code, refusal.status) == ("VALIDATION_ERROR", 400)
    assert set(refusal.fields) == {"username", "password"}
