"""U_Key login (API.md "Authentication"): the order of answers, challenges, lockout."""
import base64
from datetime import timedelta

from sqlalchemy import select

from gongwen_identity.domain import authentication
from gongwen_identity.models import AuditRecord, Challenge


def credentials(username, password, challenge_id, signature) -> dict:
    """A login request, as POST /auth/login forwards it."""
    return {"username": username, "password": password, "challenge_id": challenge_id, "signature": signature}


def test_login_answers_in_the_order_of_the_api(world):
    alice = world.user("alice")
    password, key = world.passwords["alice"], world.keys["alice"]

    # 1. CHALLENGE_EXPIRED: right password, right U_Key, but 121 s later.
    stale = world.call("issue_challenge", {"username": "alice"})
    assert len(base64.b64decode(stale["nonce"])) == 32
    world.clock.advance(seconds=121)
    refusal = world.refused("login", credentials("alice", password, stale["challenge_id"],
                                                 world.sign(key, stale["nonce"])))
    assert (refusal.code, refusal.status) == ("CHALLENGE_EXPIRED", 401)
    unknown = world.refused("login", credentials("alice", password, "no-such-challenge",
                                                 world.sign(key, stale["nonce"])))
    assert unknown.code == "CHALLENGE_EXPIRED"

    # Success, then 2. CHALLENGE_USED: the same challenge replayed with everything right.
    challenge = world.call("issue_challenge", {"username": "alice"})
    signature = world.sign(key, challenge["nonce"])
    result = world.call("login", credentials("alice", password, challenge["challenge_id"], signature))
    assert result["token_type"] == "Bearer" and result["must_change_password"] is True
    replay = world.refused("login", credentials("alice", password, challenge["challenge_id"], signature))
    assert (replay.code, replay.status) == ("CHALLENGE_USED", 401)

    # A challenge issued for another username is spent as well: it counts as used.
    for_bob = world.call("issue_challenge", {"username": "bob"})
    borrowed = world.refused("login", credentials("alice", password, for_bob["challenge_id"],
                                                  world.sign(key, for_bob["nonce"])))
    assert borrowed.code == "CHALLENGE_USED"
    assert world.refused("login", credentials("bob", world.passwords["bob"], for_bob["challenge_id"],
                                              world.sign(world.keys["bob"], for_bob["nonce"]))).code == "CHALLENGE_USED"

    # 3. DEVICE_SIGNATURE_INVALID: signed by another key (right password); the attempt spends it.
    challenge = world.call("issue_challenge", {"username": "alice"})
    forged = world.sign(world.new_key(), challenge["nonce"])
    refusal = world.refused("login", credentials("alice", password, challenge["challenge_id"], forged))
    assert (refusal.code, refusal.status) == ("DEVICE_SIGNATURE_INVALID", 401)
    assert world.refused("login", credentials("alice", password, challenge["challenge_id"],
                                              world.sign(key, challenge["nonce"]))).code == "CHALLENGE_USED"
    garbage = world.call("issue_challenge", {"username": "alice"})
    assert world.refused("login", credentials("alice", password, garbage["challenge_id"], "not base64!")).code == \
        "DEVICE_SIGNATURE_INVALID"

    # 6. INVALID_CREDENTIALS: right U_Key, wrong password.
    refusal = world.login_refused("alice", password="Wrong#2026pass")
    assert (refusal.code, refusal.status) == ("INVALID_CREDENTIALS", 401)

    # 4. ACCOUNT_DISABLED once disabled, whatever the password: the state comes before it.
    world.call("disable_user", alice.id, world.actor("operator"), {"reason": "left the unit"})
    for attempt in ("Wrong#2026pass", password):
        refusal = world.login_refused("alice", password=attempt)
        assert (refusal.code, refusal.status) == ("ACCOUNT_DISABLED", 401)
    # An expired challenge outranks everything else, a used one everything after it.
    world.clock.advance(seconds=121)
    assert world.refused("login", credentials("alice", password, challenge["challenge_id"], forged)).code == \
        "CHALLENGE_EXPIRED"


def test_a_locked_account_answers_the_same_whatever_the_password_and_tests_none(world, monkeypatch):
    """Issue 9 item 3: the U_Key's holder must not learn the password from a locked account
    (today's order answered ACCOUNT_LOCKED for the right password, INVALID_CREDENTIALS for a
    wrong one). Signature, then disabled, then locked, then the password."""
    for attempt in range(5):
        assert world.login_refused("bob", password=f"Wrong#2026no{attempt}").code == "INVALID_CREDENTIALS"
    tested = []
    monkeypatch.setattr(authentication.passwords, "verify_password", lambda *a: tested.append(a) or True)
    answers = {(r.code, r.status, r.message) for r in (world.login_refused("bob", password=p)
                                                       for p in ("Wrong#2026again", world.passwords["bob"]))}
    assert len(answers) == 1 and next(iter(answers))[:2] == ("ACCOUNT_LOCKED", 401)
    assert tested == []  # no password work while locked
    assert world.user("bob").failed_attempts == 5  # and nothing counted or extended


def test_a_disabled_account_answers_the_same_whatever_the_password(world):
    bob = world.user("bob")
    world.call("disable_user", bob.id, world.actor("operator"), {"reason": "left the unit"})
    answers = {(r.code, r.message) for r in (world.login_refused("bob", password=p)
                                             for p in ("Wrong#2026again", world.passwords["bob"]))}
    assert answers == {("ACCOUNT_DISABLED", "The account is disabled.")}
    assert world.user("bob").failed_attempts == 0


def test_unknown_user_is_answered_like_a_known_user_with_a_bad_signature(world):
    thief_key = world.new_key()
    known = world.call("issue_challenge", {"username": "alice"})
    unknown = world.call("issue_challenge", {"username": "nobody"})
    assert known.keys() == unknown.keys()
    assert len(base64.b64decode(known["nonce"])) == len(base64.b64decode(unknown["nonce"])) == 32

    answers = [world.refused("login", credentials(name, "Lantern#2026red", ch["challenge_id"],
                                                  world.sign(thief_key, ch["nonce"])))
               for name, ch in (("alice", known), ("nobody", unknown))]
    assert {(a.code, a.status, a.message) for a in answers} == {
        ("DEVICE_SIGNATURE_INVALID", 401, "The U_Key signature does not verify.")}
    # Neither spent any password work or counted a failure: without the U_Key nothing is learnt.
    assert world.user("alice").failed_attempts == 0
    for ch in (known, unknown):
        assert world.session.get(Challenge, ch["challenge_id"]).used_at is not None


def test_five_wrong_passwords_lock_for_fifteen_minutes_and_refusals_survive_the_rollback(world):
    for attempt in range(1, 6):
        assert world.login_refused("bob", password=f"Wrong#2026no{attempt}").code == "INVALID_CREDENTIALS"
        # ``refused`` rolled the worker's transaction back, as the RPC does: the count stayed.
        assert world.user("bob").failed_attempts == attempt
    assert world.user("bob").locked_until == world.clock.now + timedelta(minutes=15)

    refusal = world.login_refused("bob")  # the right password now
    assert (refusal.code, refusal.status) == ("ACCOUNT_LOCKED", 401)
    world.clock.advance(minutes=14, seconds=59)
    assert world.login_refused("bob").code == "ACCOUNT_LOCKED"
    world.clock.advance(seconds=1)  # 15 minutes after the fifth failure
    assert world.login("bob")["token_type"] == "Bearer"
    bob = world.user("bob")
    assert (bob.failed_attempts, bob.locked_until) == (0, None)
    refused = world.session.scalars(select(AuditRecord.details).where(AuditRecord.action == "login_refused",
                                                                      AuditRecord.subject_id == bob.id))
    assert [d["code"] for d in refused].count("INVALID_CREDENTIALS") == 5


def test_success_resets_the_count_and_an_admin_unlock_or_reset_ends_a_lock(world):
    service = world.service_with({"IDENTITY_LOCKOUT_MAX_FAILURES": 2})  # the policy is injectable
    bob, admin = world.user("bob"), world.actor("dave")

    assert world.login_refused("bob", password="Wrong#2026one", service=service).code == "INVALID_CREDENTIALS"
    world.login("bob", service=service)
    assert world.user("bob").failed_attempts == 0

    for _ in range(2):
        world.login_refused("bob", password="Wrong#2026two", service=service)
    assert world.login_refused("bob", service=service).code == "ACCOUNT_LOCKED"
    world.call("unlock_user", bob.id, admin)
    world.login("bob", service=service)

    for _ in range(2):
        world.login_refused("bob", password="Wrong#2026three", service=service)
    assert world.user("bob").locked_until is not None
    world.call("reset_password", bob.id, {"initial_password": "Saffron#2026new"}, admin)
    assert world.login("bob", password="Saffron#2026new", service=service)["must_change_password"] is True
    assert [e["reset"] for e in world.events("password_changed")] == [True]
