"""Whose fault a late urgent receipt is (001 §21), judged from notify's ``message_status`` events in
the ledger (worker on SQLite): delivered to the receiver's people → the receiver's; sent but not
known delivered → undetermined; nothing sent (skipped: no SMS for the unit) → the sender's, with the
reason; the sender's own clerks being chased is no notice to the receiver."""
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from gongwen_archive.models import Base

from .test_ledger import OPERATOR, Archive, envelope

SENT = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
DUE = SENT + timedelta(minutes=30)


@pytest.fixture
def archive(sqlite_session):
    return Archive(sqlite_session(Base))


def late_urgent(archive, unit_code):
    """An extra-urgent document to ``unit_code``, signed an hour after its due time."""
    document_id, receipt_id = str(uuid.uuid4()), str(uuid.uuid4())
    summary = {"id": document_id, "issuer_code": "gz-a", "doc_number": "穗府办〔2026〕1号", "title": "紧急通知",
               "urgency": "extra_urgent", "sent_at": SENT.isoformat()}
    receipt = {"receipt_id": receipt_id, "unit_code": unit_code, "role": "main", "due_at": DUE.isoformat()}
    archive.take("exchange", envelope("document_sent", {**summary, "receipts": [receipt]}, SENT.isoformat()))
    signed = DUE + timedelta(hours=1)
    archive.take("exchange", envelope("receipt_signed", {**summary, "receipt": {
        **receipt, "state": "signed", "signed_at": signed.isoformat()}}, signed.isoformat()))
    return document_id


def status(archive, document_id, unit_code, state, at, role="clerk", notification=None, **extra):
    data = {"message_id": None if state == "skipped" else f"m-{notification}", "notification_id": notification,
            "document_id": document_id, "unit_code": unit_code, "issuer_code": "gz-a", "role": role,
            "user_id": f"u-{notification}", "channel": "sms", "to": None if state == "skipped" else "+86 138****8000",
            "step": 1, "status": state, "reason": None, "error_code": None, "created_at": SENT.isoformat(),
            "sent_at": None, "delivered_at": None, "price": None, "price_unit": None, "at": at.isoformat(), **extra}
    archive.take("notify", envelope("message_status", data, at.isoformat()))


def judged(archive):
    report = archive.call("supervision_report", "2026-12-01", "2026-12-01", "json", OPERATOR)
    return {item["unit_code"]: item for item in report["urgent_late_evidence"]}


def test_a_notice_delivered_to_the_receivers_people_makes_the_delay_the_receivers(archive):
    document_id = late_urgent(archive, "gz-b")
    told, delivered = SENT + timedelta(seconds=5), SENT + timedelta(seconds=12)
    for state, at, times in (("queued", SENT, {}), ("sent", told, {"sent_at": told.isoformat()}),
                             ("delivered", delivered, {"sent_at": told.isoformat(),
                                                       "delivered_at": delivered.isoformat()})):
        status(archive, document_id, "gz-b", state, at, notification="n1", **times)
    [line] = judged(archive)["gz-b"]["notifications"]
    assert judged(archive)["gz-b"]["fault"] == "receiver"
    assert (line["status"], line["told_at"], line["delivered_at"], line["role"]) == (
        "delivered", told.isoformat(), delivered.isoformat(), "clerk")


def test_a_notice_sent_but_not_known_delivered_leaves_the_fault_undetermined(archive):
    document_id = late_urgent(archive, "gz-b")
    status(archive, document_id, "gz-b", "sent", SENT, notification="n1", sent_at=SENT.isoformat())
    assert judged(archive)["gz-b"]["fault"] == "undetermined"


def test_a_unit_without_sms_was_not_notified_and_the_reason_is_in_the_evidence(archive):
    document_id = late_urgent(archive, "gz-c")
    status(archive, document_id, "gz-c", "skipped", SENT, notification="n1", reason="sms_not_enabled")
    item = judged(archive)["gz-c"]
    assert (item["fault"], item["note"]) == ("sender", "not notified: sms_not_enabled")
    assert [(n["status"], n["reason"]) for n in item["notifications"]] == [("skipped", "sms_not_enabled")]


def test_the_senders_own_clerk_being_chased_is_no_notice_to_the_receiver(archive):
    document_id = late_urgent(archive, "gz-b")
    status(archive, document_id, "gz-b", "delivered", DUE, role="sender_clerk", notification="n9",
           sent_at=DUE.isoformat(), delivered_at=DUE.isoformat())
    item = judged(archive)["gz-b"]
    assert (item["fault"], item["notifications"]) == ("sender", [])
