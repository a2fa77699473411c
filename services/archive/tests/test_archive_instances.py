"""The archive at several instances, on PostgreSQL (issue 14): each thread is one instance's worker
with its own session, all released together at a barrier (``conftest.at_once``). A schedule tick
gives one tree head however many timers fire in it, even while other instances append; a
completed document is packaged once; appends and package builds of different instances at once
keep the ledger whole; two approvals of a disposal at once dispose of the package once."""
import base64
import threading
import uuid

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import create_engine, func, select
from sqlalchemy.pool import NullPool

from conftest import at_once, committed
from gongwen_archive.domain import ledger
from gongwen_archive.models import ArchivalPackage, LedgerEntry, PackageJob, TreeHead
from gongwen_archive.service import ArchiveService
from gongwen_cli import ledger_audit
from gongwen_common import migrate
from gongwen_common.clock import MovableClock
from gongwen_common.db import Session
from gongwen_common.tables import OutboxEvent

from .test_ledger import KEK, OPERATOR, envelope
from .test_packages import NOW, SealedDocument

INSTANCES = 3
APPENDS = 8
TICKS = 12
CONFIG = {"ARCHIVE_KEK": KEK, "LEDGER_TREE_HEAD_SECONDS": "60", "ARCHIVE_RETENTION": "通知=1,default=1"}


@pytest.fixture
def engine(postgres):
    name = f"archive_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    url = postgres.url(name)
    migrate.upgrade("gongwen_archive", url)
    engine = create_engine(url, poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def clock():
    return MovableClock(NOW)


def instance(session, clock, document=None):
    """One archive instance's worker over ``session``; ``document``'s services answer its builds."""
    service = worker_factory(ArchiveService, db=session, clock=clock, config=CONFIG)
    if document is not None:
        service._sources = document.sources
    return service


def in_instances(engine, clock, *works, document=None):
    """Each ``work(service)`` as a different instance, all at once; every one must succeed."""
    answers = at_once([committed(engine, lambda session, work=work: work(instance(session, clock, document)))
                       for work in works], timeout=60)
    failures = [answer for answer in answers if isinstance(answer, Exception)]
    assert failures == [], failures
    return answers


def sequentially(engine, clock, work, document=None):
    return committed(engine, lambda session: work(instance(session, clock, document)))()


def sent(service):
    service.ledger_exchange(envelope("document_sent", {"id": str(uuid.uuid4()), "issuer_code": "gz-a"}))


def appending(times):
    """Another instance taking other sources' events, one transaction each, all the while."""
    def work(service):
        for _ in range(times):
            sent(service)
            service.db.commit()
    return work


def audit(engine):
    """``ledger verify``'s check of every signed head against the whole ledger."""
    with Session(engine) as session:
        keys = ledger.keys(session)["keys"]
        entries = ledger.entries(session, 0, 1000, OPERATOR)["items"]
        heads = [ledger.head_view(h) for h in session.scalars(select(TreeHead).order_by(TreeHead.tree_size))]

        def consistency(first, second):
            return [base64.b64decode(h) for h in ledger.consistency_proof(session, first, second)["proof"]]

        return heads, [ledger_audit.verify(head, keys, entries, consistency) for head in heads], entries


class Appenders:
    """Instances taking other sources' events without pause, one transaction each, until stopped."""

    def __init__(self, engine, clock, n):
        self.stop, self.failures = threading.Event(), []
        self.threads = [threading.Thread(target=self.run, args=(engine, clock)) for _ in range(n)]

    def run(self, engine, clock):
        def work(service):
            while not self.stop.is_set():
                sent(service)
                service.db.commit()
        try:
            sequentially(engine, clock, work)
        except Exception as failure:  # noqa: BLE001 - judged by the test
            self.failures.append(failure)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(60)


def test_two_archive_instances_publish_one_tree_head_per_tick(engine, clock):
    sequentially(engine, clock, sent)
    sequentially(engine, clock, lambda service: service.sign_tree_head_on_schedule())
    with Appenders(engine, clock, INSTANCES) as appenders:
        for tick in range(1, TICKS + 1):
            sequentially(engine, clock, sent)  # grown since the last head, whatever the appenders did
            clock.advance(seconds=61)
            # Every instance's timer fires in the same tick while the others append.
            in_instances(engine, clock, *[lambda service: service.sign_tree_head_on_schedule()] * INSTANCES)
            with Session(engine) as session:
                assert session.scalar(select(func.count()).select_from(TreeHead)) == 1 + tick
    assert appenders.failures == []
    heads, verdicts, entries = audit(engine)
    sizes = [head["tree_size"] for head in heads]
    assert sizes == sorted(set(sizes)) and sizes[-1] <= len(entries)  # distinct sizes, one per tick
    assert [h["timestamp"] for h in heads] == sorted(h["timestamp"] for h in heads)
    assert all(verdict.ok for verdict in verdicts), [verdict.summary() for verdict in verdicts]


def test_a_tree_head_rpc_and_timers_at_once_sign_a_size_once(engine, clock):
    sequentially(engine, clock, sent)
    clock.advance(seconds=61)
    answers = in_instances(engine, clock, *[lambda service: service.publish_tree_head()] * INSTANCES,
                           *[lambda service: service.sign_tree_head_on_schedule()] * INSTANCES)
    heads, verdicts, _ = audit(engine)
    assert [head["tree_size"] for head in heads] == [1]
    assert all(answer == heads[0] for answer in answers[:INSTANCES])
    assert all(verdict.ok for verdict in verdicts)


def completed(document):
    return [envelope(kind, {"id": document.id, "issuer_code": "gz-a"})
            for kind in ("document_sent", "receipt_signed", "document_completed")]


def test_a_document_is_packaged_once_however_many_instances_see_it_complete(engine, clock):
    document = SealedDocument()
    events = completed(document)
    for event in events:
        sequentially(engine, clock, lambda service, event=event: service.ledger_exchange(event))
    # A redelivered completion (another event id) while every instance's builder runs.
    again = envelope("document_completed", {"id": document.id, "issuer_code": "gz-a"})
    in_instances(engine, clock, lambda service: service.ledger_exchange(again),
                 *[lambda service: service.build_archival_packages()] * INSTANCES, document=document)
    clock.advance(seconds=5)
    in_instances(engine, clock, *[lambda service: service.build_archival_packages()] * INSTANCES, document=document)
    with Session(engine) as session:
        [package] = session.scalars(select(ArchivalPackage)).all()
        assert package.document_id == document.id and package.check_result["ok"]
        assert session.scalars(select(PackageJob)).all() == []
        assert session.scalar(select(func.count()).select_from(LedgerEntry)
                              .where(LedgerEntry.event_type == "package_archived")) == 1
        assert session.scalar(select(func.count()).select_from(OutboxEvent)
                              .where(OutboxEvent.event_type == "package_archived")) == 1


def test_package_builds_and_other_instances_appends_at_once_keep_the_ledger_whole(engine, clock):
    document = SealedDocument()
    for event in completed(document):
        sequentially(engine, clock, lambda service, event=event: service.ledger_exchange(event))
    # The build signs a head and appends its digest; other instances append all the while.
    in_instances(engine, clock, lambda service: service.build_archival_packages(),
                 *[appending(APPENDS)] * INSTANCES, document=document)
    with Session(engine) as session:
        assert session.scalars(select(PackageJob)).all() == []  # built at the first try, not put off
        assert session.get(ArchivalPackage, document.id).check_result["ok"]
    sequentially(engine, clock, lambda service: service.publish_tree_head())
    heads, verdicts, entries = audit(engine)
    assert [e["index"] for e in entries] == list(range(3 + INSTANCES * APPENDS + 1))
    assert all(verdict.ok for verdict in verdicts), [verdict.summary() for verdict in verdicts]


def test_two_approvals_at_once_on_two_instances_dispose_of_a_package_once(engine, clock):
    document = SealedDocument()
    for event in completed(document):
        sequentially(engine, clock, lambda service, event=event: service.ledger_exchange(event))
    sequentially(engine, clock, lambda service: service.build_archival_packages(), document=document)
    clock.advance(days=2 * 366)
    admin = {"user_id": "admin-a", "unit_code": "gz-a", "roles": ["admin"]}
    in_instances(engine, clock, lambda service: service.approve_disposal(document.id, OPERATOR),
                 lambda service: service.approve_disposal(document.id, admin))
    with Session(engine) as session:
        package = session.get(ArchivalPackage, document.id)
        assert package.disposed_at is not None and package.data is None
        assert session.scalar(select(func.count()).select_from(LedgerEntry)
                              .where(LedgerEntry.event_type == "package_disposed")) == 1
    _, verdicts, _ = audit(engine)
    assert all(verdict.ok for verdict in verdicts)


def test_a_disposal_approved_before_the_retention_passed_is_refused_at_every_instance(engine, clock):
    document = SealedDocument()
    for event in completed(document):
        sequentially(engine, clock, lambda service, event=event: service.ledger_exchange(event))
    sequentially(engine, clock, lambda service: service.build_archival_packages(), document=document)
    clock.advance(days=30)
    answers = at_once([committed(engine, lambda session: instance(session, clock).approve_disposal(
        document.id, OPERATOR)) for _ in range(INSTANCES)], timeout=60)
    assert all(type(answer).__name__ == "RetentionNotPassed" for answer in answers), answers
    with Session(engine) as session:
        assert session.get(ArchivalPackage, document.id).disposed_at is None


