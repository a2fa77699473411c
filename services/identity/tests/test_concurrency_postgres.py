"""Concurrent logins and logouts on PostgreSQL (issue 9, items 3 and 9): truly concurrent
workers, each with its own session and connection, released together by a barrier
(``pg_world`` in conftest)."""
import uuid
from datetime import timedelta

from sqlalchemy import func, select

from gongwen_common.errors import DomainError
from gongwen_common.tables import OutboxEvent
from gongwen_identity.models import AuditRecord, RevokedToken


def test_two_concurrent_logins_with_one_challenge_give_one_token(pg_world):
    world = pg_world
    challenge = world.call("issue_challenge", {"username": "alice"})
    signature = world.sign(world.keys["alice"], challenge["nonce"])
    attempt = ("login", ({"username": "alice", "password": world.passwords["alice"],
                          "challenge_id": challenge["challenge_id"], "signature": signature},))
    results = world.concurrently([attempt, attempt])
    tokens = [r for r in results if isinstance(r, dict)]
    refusals = [r.code for r in results if isinstance(r, DomainError)]
    assert len(tokens) == 1 and refusals == ["CHALLENGE_USED"], results


def test_concurrent_wrong_passwords_each_count(pg_world):
    world, attempts = pg_world, 6
    calls = []
    for _ in range(attempts):
        challenge = world.call("issue_challenge", {"username": "alice"})
        calls.append(("login", ({"username": "alice", "password": "Wrong#2026guess",
                                 "challenge_id": challenge["challenge_id"],
                                 "signature": world.sign(world.keys["alice"], challenge["nonce"])},)))
    results = world.concurrently(calls)
    assert [r.code for r in results] == ["INVALID_CREDENTIALS"] * attempts
    assert world.user("alice").failed_attempts == attempts


def test_a_token_revoked_twice_at_once_is_revoked_once_without_a_500(pg_world):
    world = pg_world
    jti, exp = uuid.uuid4().hex, int((world.clock.now + timedelta(minutes=15)).timestamp())
    results = world.concurrently([("logout", (jti, exp)), ("logout", (jti, exp))])
    assert sorted(r["revoked"] for r in results) == [False, True]
    world.session.expire_all()
    assert world.session.scalar(select(func.count()).select_from(RevokedToken)) == 1
    assert world.session.scalar(select(func.count()).select_from(OutboxEvent)
                                .where(OutboxEvent.event_type == "token_revoked")) == 1
    assert world.session.scalar(select(func.count()).select_from(AuditRecord)
                                .where(AuditRecord.action == "logout")) == 1
