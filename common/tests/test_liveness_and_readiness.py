"""Liveness is this process's heartbeat (no broker, no database); readiness names its failed checks
with their figures."""
import os
import time
from datetime import UTC, datetime, timedelta

from gongwen_common import health, probe
from gongwen_common.outbox import new_event
from gongwen_common.tables import DeadLetter


def test_liveness_is_a_fresh_heartbeat_of_this_process_and_asks_no_broker(tmp_path, monkeypatch):
    monkeypatch.setenv("GONGWEN_HEARTBEAT_DIR", str(tmp_path))
    assert probe.main(["seal", "--live"]) == 1  # never beat
    beat = probe.heartbeat_path("seal")
    beat.touch()
    assert probe.main(["seal", "--live", "--amqp-uri", "pyamqp://nowhere:1/"]) == 0
    stale = time.time() - 31
    os.utime(beat, (stale, stale))
    alive, why = probe.live("seal")
    assert not alive and "heartbeat 31s old" in why


def test_a_not_ready_answer_names_its_failed_checks_with_their_figures():
    reply = {"status": "degraded", "checks": {"database": {"ok": True, "value": "answered", "bound": None},
                                              "outbox_oldest_age": {"ok": False, "value": 3600.5, "bound": 120}}}
    ready, why = probe.probe("archive", "pyamqp://x", call=lambda *a: reply)
    assert not ready and "outbox_oldest_age=3600.5 (bound 120)" in why and "database=" not in why.split(":")[2]


def test_readiness_bounds_the_outbox_age_and_new_dead_letters_from_the_services_settings(sqlite_session):
    session = sqlite_session()
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    bounds = health.Bounds.from_config({"HEALTH_OUTBOX_MAX_AGE_SECONDS": "60", "HEALTH_DEAD_LETTERS_MAX_NEW": "0"})
    assert health.readiness(session, bounds, now)["status"] == "ok"

    session.add(new_event("unit_registered", {}, None, now - timedelta(seconds=61)))
    session.add(DeadLetter(queue="q", body={}, headers={}, dead_at=now - timedelta(seconds=10), replay_count=0))
    session.commit()
    answer = health.readiness(session, bounds, now)
    assert answer["status"] == "degraded" and answer["outbox_pending"] == 1 and answer["dead_letters"] == 1
    assert answer["checks"]["outbox_oldest_age"] == {"ok": False, "value": 61.0, "bound": 60.0}
    assert answer["checks"]["dead_letters_new"]["value"] == 1 and not answer["checks"]["dead_letters_new"]["ok"]
    assert answer["checks"]["outbox_backlog"] == {"ok": True, "value": 1, "bound": 1000}
    # a dead letter from before the window no longer counts as growing
    assert health.readiness(session, bounds, now + timedelta(seconds=900))["checks"]["dead_letters_new"]["ok"]
