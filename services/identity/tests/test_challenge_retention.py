"""Expired login challenges (identity's part of housekeeping): kept for
``IDENTITY_CHALLENGE_RETENTION_MINUTES`` after they expire by the service's clock, then purged."""
from sqlalchemy import func, select

from gongwen_identity.models import Challenge


def challenges(world):
    return world.session.scalar(select(func.count()).select_from(Challenge))


def test_an_expired_challenge_is_kept_for_the_challenge_retention_then_purged(world):
    service = world.service_with({"IDENTITY_CHALLENGE_RETENTION_MINUTES": "60"})
    world.call("issue_challenge", {"username": "anyone"})
    expires_at = world.session.scalar(select(Challenge.expires_at))
    world.clock.now = expires_at
    world.call("purge_expired_regularly", service=service)
    assert challenges(world) == 1  # expired, but within the hour it is kept
    world.clock.advance(minutes=59)
    world.call("purge_expired_regularly", service=service)
    assert challenges(world) == 1
    world.clock.advance(minutes=2)
    world.call("purge_expired_regularly", service=service)
    assert challenges(world) == 0
