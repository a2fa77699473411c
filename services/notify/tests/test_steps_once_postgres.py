"""Each escalation step fires once, whatever the instances, on PostgreSQL: two instances ticking at
the same moment take disjoint steps (``FOR UPDATE SKIP LOCKED``), and a step claimed by an
instance that died is fired by another once the claim's lease has run out, and only then."""
import uuid
from datetime import timedelta

from eventlet.patcher import original
from sqlalchemy import create_engine, func, select
from sqlalchemy.pool import NullPool

from gongwen_common import migrate
from gongwen_common.db import Session
from gongwen_notify.domain import dispatch, escalation
from gongwen_notify.domain.settings import NotifySettings
from gongwen_notify.models import EscalationStep, Message, Notification

from .conftest import Notify, shipped_config

CONFIG = shipped_config(NOTIFY_BATCH_SIZE=10)  # small claims: both instances take a share
SETTINGS = NotifySettings.from_config(CONFIG)


def notify_database(postgres):
    name = f"notify_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    url = postgres.url(name)
    migrate.upgrade("gongwen_notify", url)
    return create_engine(url, poolclass=NullPool)


def tick(engine, by, now):
    with Session(engine) as session:
        return escalation.tick(session, now, by, SETTINGS, lambda s, at: dispatch.dispatch(s, at, SETTINGS))


def counts(engine):
    with Session(engine) as session:
        fired = session.scalar(select(func.count()).select_from(EscalationStep).where(EscalationStep.status == "fired"))
        per_step = session.execute(select(Notification.step_id, func.count()).group_by(Notification.step_id)).all()
        per_person = session.execute(select(Message.user_id, func.count()).group_by(Message.user_id)).all()
        return fired, per_step, per_person


def test_two_instances_ticking_together_fire_each_step_once(postgres):
    engine = notify_database(postgres)
    with Session(engine) as session:
        notify = Notify(session, CONFIG)
        notify.unit("sender")
        codes = [f"u{n}" for n in range(40)]
        for code in codes:
            notify.unit(code)
        notify.send("sender", codes)  # 40 units × (clerk, leader): 80 steps due at once
        now = notify.clock.now
    barrier, results = original("threading").Barrier(2), {}

    def instance(by):
        barrier.wait()
        results[by] = []
        while not results[by] or results[by][-1]["claimed"]:
            results[by].append(tick(engine, by, now))

    threads = [original("threading").Thread(target=instance, args=(by,)) for by in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    shares = {by: sum(run["claimed"] for run in results[by]) for by in "ab"}
    assert sum(shares.values()) == 80, shares
    fired, per_step, per_person = counts(engine)
    assert fired == 80 and len(per_step) == 80 and {n for _, n in per_step} == {1}
    assert len(per_person) == 80 and {n for _, n in per_person} == {1}
    engine.dispose()


def test_a_step_claimed_by_an_instance_that_died_is_fired_once_after_its_lease(postgres):
    engine = notify_database(postgres)
    with Session(engine) as session:
        notify = Notify(session, CONFIG)
        notify.unit("sender")
        notify.unit("r1")
        notify.send("sender", ["r1"])
        now = notify.clock.now
    with Session(engine) as session:  # the instance that dies right after its claim committed
        assert len(escalation.claim_due(session, now, "dead", SETTINGS)) == 2
        session.commit()
    assert tick(engine, "alive", now + SETTINGS.claim_lease - timedelta(seconds=1))["claimed"] == 0
    assert tick(engine, "alive", now + SETTINGS.claim_lease + timedelta(seconds=1))["messages"] == 2
    with Session(engine) as session:  # the dead one's late firing (had it only hung) does nothing
        assert escalation.fire(session, 1, "dead", now, SETTINGS) == 0
        session.commit()
    fired, per_step, per_person = counts(engine)
    assert fired == 2 and {n for _, n in per_step} == {1} and {n for _, n in per_person} == {1}
    engine.dispose()
