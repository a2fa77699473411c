"""The ledger in the archive worker (SQLite, a moved clock): every event appended once and in order,
signed tree heads, proofs a hashlib-only verifier accepts, entries only to the units they concern,
and ``ledger verify`` naming the first altered, removed or moved row."""
import base64
import json
import uuid
from datetime import UTC, datetime

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import delete, select, update

from conftest import WorkerCalls
from gongwen_archive.models import Base, LedgerEntry, TreeHead
from gongwen_archive.service import ArchiveService
from gongwen_cli import ledger_audit
from gongwen_common.clock import MovableClock
from gongwen_contracts.archive import merkle

KEK = base64.b64encode(bytes(range(7, 39))).decode()
OPERATOR = {"user_id": "op", "unit_code": "operator", "roles": ["operator"]}


def envelope(event_type, data, occurred_at="2026-12-01T09:00:00+00:00"):
    return {"event_id": uuid.uuid4().hex, "event_type": event_type, "occurred_at": occurred_at, "data": data}


class Archive(WorkerCalls):
    def __init__(self, session):
        self.session = session
        self.clock = MovableClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
        self.service = worker_factory(ArchiveService, db=session, clock=self.clock,
                                      config={"ARCHIVE_KEK": KEK, "LEDGER_TREE_HEAD_SECONDS": "60"})

    def take(self, source, event):
        getattr(self.service, f"ledger_{source}")(event)
        self.session.commit()

    def sent(self, issuer="a", recipients=("b",)):
        document_id = str(uuid.uuid4())
        self.take("exchange", envelope("document_sent", {
            "id": document_id, "issuer_code": issuer, "title": "关于开展检查的紧急通知",
            "receipts": [{"receipt_id": str(uuid.uuid4()), "unit_code": code} for code in recipients]}))
        return document_id

    def all_entries(self):
        return self.call("ledger_entries", 0, 1000, OPERATOR)["items"]

    def consistency(self, first, second):
        proof = self.call("ledger_consistency_proof", first, second)["proof"]
        return [base64.b64decode(h) for h in proof]

    def audit(self):
        head = self.call("publish_tree_head")
        return ledger_audit.verify(head, self.call("ledger_keys")["keys"], self.all_entries(), self.consistency)


@pytest.fixture
def archive(sqlite_session):
    return Archive(sqlite_session(Base))


def test_every_event_is_appended_once_in_the_order_it_was_taken(archive):
    first = envelope("unit_registered", {"unit": {"code": "a"}})
    archive.take("registry", first)
    archive.take("registry", first)  # a redelivery
    document_id = archive.sent()
    archive.take("exchange", envelope("receipt_signed", {"id": document_id, "issuer_code": "a",
                                                         "receipt": {"unit_code": "b", "state": "signed"}}))
    entries = archive.all_entries()
    assert [(e["index"], e["source"], e["event_type"]) for e in entries] == [
        (0, "registry", "unit_registered"), (1, "exchange", "document_sent"), (2, "exchange", "receipt_signed")]
    assert entries[1]["document_id"] == entries[2]["document_id"] == document_id
    assert entries[1]["units"] == ["a", "b"]
    leaf = json.loads(base64.b64decode(entries[1]["leaf_input"]))
    assert leaf["data"]["title"] == "关于开展检查的紧急通知" and leaf["index"] == 1


def test_a_signed_tree_head_holds_under_the_published_key_and_proofs_verify_with_hashlib_alone(archive):
    for _ in range(11):
        archive.sent()
    head = archive.call("publish_tree_head")
    assert head["tree_size"] == 11
    assert ledger_audit.signature_holds(head, archive.call("ledger_keys")["keys"])
    root = base64.b64decode(head["root_hash"])
    for entry in archive.all_entries():
        proof = archive.call("ledger_inclusion_proof", entry["index"], 11)
        leaf = merkle.leaf_hash(base64.b64decode(entry["leaf_input"]))
        assert merkle.verify_inclusion(leaf, entry["index"], 11, [base64.b64decode(h) for h in proof["audit_path"]],
                                       root)
    archive.sent()
    newer = archive.call("publish_tree_head")
    assert merkle.verify_consistency(11, 12, root, base64.b64decode(newer["root_hash"]), archive.consistency(11, 12))


def test_tree_heads_are_signed_on_schedule_only_when_the_ledger_grew(archive):
    archive.sent()
    archive.call("sign_tree_head_on_schedule")
    archive.call("sign_tree_head_on_schedule")  # too soon, and nothing new
    archive.clock.advance(minutes=2)
    archive.call("sign_tree_head_on_schedule")  # due, but nothing new
    archive.sent()
    archive.clock.advance(minutes=2)
    archive.call("sign_tree_head_on_schedule")
    assert archive.session.scalars(select(TreeHead.tree_size).order_by(TreeHead.tree_size)).all() == [1, 2]


def test_an_entry_is_shown_only_to_the_units_it_concerns(archive):
    archive.sent(issuer="a", recipients=("b",))
    assert archive.call("ledger_entry", 0, {"user_id": "x", "unit_code": "b", "roles": ["clerk"]})["index"] == 0
    stranger = {"user_id": "y", "unit_code": "c", "roles": ["admin"]}
    assert archive.refused("ledger_entry", 0, stranger).code == "NOT_FOUND"
    assert archive.refused("ledger_entries", 0, 10, stranger).code == "FORBIDDEN"


@pytest.fixture
def ledger_of_ten(archive):
    for n in range(10):
        archive.sent(issuer=f"u{n}")
    assert archive.audit().ok
    return archive


def _rewrite_leaf(archive, index, change):
    row = archive.session.get(LedgerEntry, index)
    leaf = json.loads(row.leaf_input)
    change(leaf)
    row.leaf_input = json.dumps(leaf, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    archive.session.commit()


def test_verify_names_an_entry_whose_event_data_was_rewritten(ledger_of_ten):
    _rewrite_leaf(ledger_of_ten, 6, lambda leaf: leaf["data"].update(title="改过的标题"))
    verdict = ledger_of_ten.audit()
    assert not verdict.ok and verdict.findings[0].index == 6, verdict.summary()


def test_verify_names_an_entry_whose_column_was_edited(ledger_of_ten):
    ledger_of_ten.session.execute(update(LedgerEntry).where(LedgerEntry.seq == 3)
                                  .values(event_type="document_recalled"))
    ledger_of_ten.session.commit()
    verdict = ledger_of_ten.audit()
    assert not verdict.ok and verdict.findings[0].index == 3 and "event_type" in verdict.findings[0].problem


def test_verify_names_a_removed_entry(ledger_of_ten):
    ledger_of_ten.session.execute(delete(LedgerEntry).where(LedgerEntry.seq == 4))
    ledger_of_ten.session.commit()
    verdict = ledger_of_ten.audit()
    assert not verdict.ok and verdict.findings[0].index == 4 and "missing" in verdict.findings[0].problem


def test_verify_names_entries_that_were_swapped(ledger_of_ten):
    session = ledger_of_ten.session
    for old, new in ((2, 100), (7, 2), (100, 7)):
        session.execute(update(LedgerEntry).where(LedgerEntry.seq == old).values(seq=new))
    session.commit()
    verdict = ledger_of_ten.audit()
    assert not verdict.ok and verdict.findings[0].index == 2 and "moved" in verdict.findings[0].problem


def test_verify_refuses_a_tree_head_signed_by_another_key(ledger_of_ten):
    head = ledger_of_ten.call("publish_tree_head")
    forged = {**head, "root_hash": base64.b64encode(bytes(32)).decode()}
    verdict = ledger_audit.verify(forged, ledger_of_ten.call("ledger_keys")["keys"], ledger_of_ten.all_entries(),
                                  ledger_of_ten.consistency)
    assert not verdict.ok and "signature" in verdict.summary()
