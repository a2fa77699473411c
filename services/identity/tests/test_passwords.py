"""Password policy (003 §14, stricter where a modern policy asks), hashing and changing."""
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from argon2 import PasswordHasher, Type, extract_parameters

from gongwen_identity.domain import passwords
from gongwen_identity.domain.errors import PasswordTooWeak
from gongwen_identity.domain.passwords import PasswordPolicy


@pytest.mark.parametrize(("password", "reason"), [
    ("Ab1!xyz", "at least 8 characters"),
    ("Ab1!" * 33, "at most 128 characters"),
    ("Abcdefgh!", "a digit"),
    ("12345678!", "a letter"),
    ("Abcdefg12", "a symbol"),
    ("Abcd 1234", "a symbol"),  # a space is allowed, but it is not a symbol
    ("x-ZHANG.San#2026", "the username"),  # case-insensitive
    ("P@SSW0RD", "commonly used"),  # on the breached list, whatever the case
    ("Password1!", "commonly used"),  # a common word dressed with digits and symbols
    ("!!Dragon2024", "commonly used"),
    ("Woaini1314!", "commonly used"),  # from the Chinese leaks the bundled list adds
    ("1qaz@WSX", "commonly used"),
    (None, "required"),
])
def test_weak_passwords_are_refused_with_a_reason(password, reason):
    with pytest.raises(PasswordTooWeak) as refused:
        PasswordPolicy().check(password, "zhang.san")
    assert (refused.value.code, refused.value.status) == ("PASSWORD_TOO_WEAK", 400)
    assert reason in refused.value.message


@pytest.mark.parametrize("password", ["Tr0ub4dor&3x", "correct horse 7 battery!", "公文交换#2026a", "Ab1!Ab1!"])
def test_passwords_that_meet_the_policy(password):
    assert PasswordPolicy().problem(password, "zhang.san") is None


def test_hashes_are_argon2id_with_the_library_defaults_and_normalised_input():
    stored = passwords.hash_password("Ｃｉｔｙ#２０２６ｗａｌｌ")  # full-width, as some input methods type it
    parameters = extract_parameters(stored)
    assert parameters.type is Type.ID and parameters == extract_parameters(PasswordHasher().hash("x"))
    assert passwords.verify_password(stored, "City#2026wall")
    assert not passwords.verify_password(stored, "City#2026Wall")
    assert not passwords.needs_rehash(stored)


def test_the_max_age_asks_for_a_change():
    policy, changed = PasswordPolicy(max_age=timedelta(days=180)), datetime(2026, 1, 1, tzinfo=UTC)
    assert not policy.expired(changed, changed + timedelta(days=179))
    assert policy.expired(changed, changed + timedelta(days=180))
    assert not PasswordPolicy(max_age=None).expired(changed, changed + timedelta(days=3650))


def test_the_initial_password_must_be_changed_before_anything_else(world):
    alice, old = world.user("alice"), world.passwords["alice"]
    # While on the initial password, acting is refused (the token says pwd=true).
    refusal = world.refused("set_proxy", {"principal_user_id": alice.id, "proxy_user_id": world.user("bob").id,
                                          "starts_at": world.clock.now.isoformat(),
                                          "ends_at": (world.clock.now + timedelta(days=1)).isoformat()},
                            world.actor("alice"))
    assert (refusal.code, refusal.status) == ("PASSWORD_CHANGE_REQUIRED", 403)

    wrong = world.refused("change_password", alice.id, {"old_password": "Wrong#2026old",
                                                        "new_password": "Sunrise#2026tea"})
    assert (wrong.code, wrong.status) == ("INVALID_CREDENTIALS", 401)
    assert world.user("alice").failed_attempts == 1  # counted, and kept despite the rollback
    assert world.refused("change_password", alice.id, {"old_password": old,
                                                       "new_password": old}).code == "PASSWORD_TOO_WEAK"
    weak = world.refused("change_password", alice.id, {"old_password": old, "new_password": "alice#2026Tea"})
    assert weak.code == "PASSWORD_TOO_WEAK" and "username" in weak.message

    session = world.login("alice")
    world.call("change_password", alice.id, {"old_password": old, "new_password": "Sunrise#2026tea"})
    alice = world.user("alice")
    assert (alice.must_change_password, alice.failed_attempts) == (False, 0)
    [changed] = world.events("password_changed")
    assert (changed["user_id"], changed["changed_by"], changed["reset"]) == (alice.id, alice.id, False)
    assert "Sunrise#2026tea" not in str(changed)
    assert [e["jti"] for e in world.events("token_revoked")] == [_jti(session)]  # sessions end with it

    assert world.login("alice", password="Sunrise#2026tea")["must_change_password"] is False
    world.clock.advance(days=180)  # 000 §15: changed periodically
    assert world.login("alice", password="Sunrise#2026tea")["must_change_password"] is True


def _jti(login_result):
    return jwt.decode(login_result["access_token"], options={"verify_signature": False})["jti"]
