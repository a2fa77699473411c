"""Certificate expiry alerts are raised once whatever the instances, on PostgreSQL: several
instances running the check at the same moment raise each (certificate, threshold) once."""
import uuid
from datetime import timedelta

from eventlet.patcher import original
from sqlalchemy import create_engine, func, select
from sqlalchemy.pool import NullPool

from gongwen_common import migrate
from gongwen_common.db import Session
from gongwen_common.tables import OutboxEvent
from gongwen_seal.domain import expiry
from gongwen_seal.models import Seal

from .conftest import SealWorld


def test_instances_checking_together_raise_each_certificate_alert_once(postgres):
    name = f"seal_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    migrate.upgrade("gongwen_seal", postgres.url(name))
    engine = create_engine(postgres.url(name), poolclass=NullPool)
    with Session(engine) as session:
        seals = SealWorld(session)
        for n in range(6):
            seals.active_seal(f"u{n}")
        not_after = min(session.scalars(select(Seal.not_after)))
    now = not_after - timedelta(days=29)  # inside 60 and 30 for every seal (issued within a minute)
    barrier, raised = original("threading").Barrier(3), []

    def instance():
        with Session(engine) as session:
            barrier.wait()
            raised.append(expiry.check(session, now))
            session.commit()

    threads = [original("threading").Thread(target=instance) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(raised) == 6, raised
    with Session(engine) as session:
        per_certificate = session.execute(
            select(OutboxEvent.payload["data"]["certificate_serial"].as_string(), func.count())
            .where(OutboxEvent.event_type == "certificate_expiring")
            .group_by(OutboxEvent.payload["data"]["certificate_serial"].as_string())).all()
    assert len(per_certificate) == 6 and {count for _, count in per_certificate} == {1}
    engine.dispose()
