"""Retries never double the work (issue 9, items 8 and 11): a repeated sign-for, registration or
return answers the same receipt; a repeated print with its Idempotency-Key answers the same copy
and uses none; lists in requests name each thing once."""
from sqlalchemy import func, select

from gongwen_exchange.models import AuditRecord
from gongwen_seal.models import PrintStamp


def sent_to(exchange, *recipients, grants=None):
    exchange.units("gz-fgw", *recipients, sealed=["gz-fgw"])
    return exchange.send(main=recipients, cc=(), print_grants=grants or {recipients[0]: 2})


def audit_count(exchange, action):
    return exchange.session.scalar(select(func.count()).select_from(AuditRecord).where(AuditRecord.action == action))


def test_a_repeated_sign_for_answers_the_same_receipt_and_signs_once(exchange):
    doc = sent_to(exchange, "a1")["id"]
    first = exchange.call("sign_for", doc, exchange.clerk("a1"))
    exchange.clock.advance(minutes=5)
    again = exchange.call("sign_for", doc, exchange.clerk("a1"))
    assert again["signed_at"] == first["signed_at"] and again["state"] == "signed"
    assert len(exchange.events("receipt_signed")) == 1 and audit_count(exchange, "receipt_signed") == 1


def test_a_repeated_registration_answers_the_same_receipt_and_another_number_is_refused(exchange):
    doc = sent_to(exchange, "a1")["id"]
    exchange.call("sign_for", doc, exchange.clerk("a1"))
    first = exchange.call("register", doc, {"registration_number": "收〔2026〕1号"}, exchange.clerk("a1"))
    exchange.clock.advance(minutes=5)
    assert exchange.call("register", doc, {"registration_number": "收〔2026〕1号"}, exchange.clerk("a1")) == first
    assert exchange.refused("register", doc, {"registration_number": "收〔2026〕2号"},
                            exchange.clerk("a1")).code == "INVALID_RECEIPT_STATE"
    assert len(exchange.events("receipt_registered")) == 1 and len(exchange.events("document_completed")) == 1


def test_a_repeated_return_answers_the_same_receipt_and_returns_once(exchange):
    doc = sent_to(exchange, "a1")["id"]
    first = exchange.call("return_document", doc, {"reason": "文号有误"}, exchange.clerk("a1"))
    exchange.clock.advance(minutes=5)
    assert exchange.call("return_document", doc, {"reason": "文号有误"}, exchange.clerk("a1")) == first
    assert exchange.refused("return_document", doc, {"reason": "另一个理由"},
                            exchange.clerk("a1")).code == "INVALID_RECEIPT_STATE"
    assert len(exchange.events("document_returned")) == 1


def test_a_repeated_print_with_its_idempotency_key_answers_the_same_copy_and_uses_none(exchange):
    doc = sent_to(exchange, "a1", grants={"a1": 2})["id"]
    first = exchange.call("print_copy", doc, exchange.clerk("a1"), idempotency_key="print-1")
    again = exchange.call("print_copy", doc, exchange.clerk("a1"), idempotency_key="print-1")
    assert again == first and first["copy_number"] == 1 and first["copies_left"] == 1
    assert exchange.seal.session.scalar(select(func.count()).select_from(PrintStamp)) == 1
    second = exchange.call("print_copy", doc, exchange.clerk("a1"), idempotency_key="print-2")
    assert (second["copy_number"], second["copies_left"]) == (2, 0)
    assert second["stamp"]["print_serial"] != first["stamp"]["print_serial"]
    # The key is the unit's receipt's: another user reusing it for another request is refused, not answered.
    other = {"user_id": "clerk-2", "unit_code": "a1", "roles": ["clerk"]}
    assert exchange.refused("print_copy", doc, other, idempotency_key="print-1").code == "IDEMPOTENCY_KEY_REUSED"


def test_a_resend_naming_a_unit_twice_is_a_validation_error_and_changes_nothing(exchange):
    doc = sent_to(exchange, "a1", "a2")["id"]
    exchange.call("return_document", doc, {"reason": "文号有误"}, exchange.clerk("a1"))
    refused = exchange.refused("resend", doc, {"unit_codes": ["a1", "a1"]}, exchange.clerk("gz-fgw"))
    assert (refused.code, list(refused.fields)) == ("VALIDATION_ERROR", ["unit_codes"])
    assert [r["state"] for r in exchange.call("receipts", doc, exchange.clerk("gz-fgw"))] == ["returned", "delivered"]


def test_a_recipient_listed_twice_or_as_main_and_copy_is_a_validation_error(exchange):
    exchange.units("gz-fgw", "a1", "a2", sealed=["gz-fgw"])
    metadata = {"doc_number": "穗发改〔2026〕9号", "title": "通知", "signer": "张三", "urgency": "normal",
                "secrecy": "none"}
    for main, cc in ((("a1", "a1"), ()), (("a1",), ("a2", "a2")), (("a1",), ("a1",))):
        refused = exchange.refused("send_document", {**metadata, "main_recipients": list(main),
                                                     "cc_recipients": list(cc)}, "Ym9keQ==", "body.html", [],
                                   exchange.clerk("gz-fgw"))
        assert refused.code == "VALIDATION_ERROR", (main, cc)
    grants = exchange.refused("send_document", {**metadata, "main_recipients": ["a1"], "print_grants": {"a2": 1}},
                              "Ym9keQ==", "body.html", [], exchange.clerk("gz-fgw"))
    assert (grants.code, list(grants.fields)) == ("VALIDATION_ERROR", ["print_grants"])


def test_approvals_listed_twice_are_a_validation_error_and_calendar_days_twice_a_domain_refusal(exchange):
    doc = sent_to(exchange, "a1")["id"]
    refused = exchange.refused("seal_document", doc, {"seal_use_approval_ids": ["ap-1", "ap-1"]},
                               exchange.clerk("gz-fgw"))
    assert (refused.code, list(refused.fields)) == ("VALIDATION_ERROR", ["seal_use_approval_ids"])
    operator = {"user_id": "op-1", "unit_code": "operator", "roles": ["operator"]}
    schedule = {"source": "国办发明电〔2026〕1号", "days": [{"date": "2027-01-01", "working": False},
                                                       {"date": "2027-01-01", "working": True}]}
    refused = exchange.refused("load_calendar", 2027, schedule, operator)
    assert (refused.code, refused.status, list(refused.fields)) == ("INVALID_CALENDAR", 422, ["days"])


def test_a_resend_to_a_unit_no_longer_active_is_refused(exchange):
    doc = sent_to(exchange, "a1")["id"]
    exchange.call("return_document", doc, {"reason": "文号有误"}, exchange.clerk("a1"))
    exchange.call("on_unit_revoked", {"event_id": "rv-1", "event_type": "unit_revoked", "occurred_at":
                                      exchange.clock.now.isoformat(), "data": {
                                          "unit": {"code": "a1", "name": "单位a1", "status": "revoked", "version": 9},
                                          "reason": "撤销", "documents": "keep", "successor_code": None}})
    assert exchange.refused("resend", doc, {"unit_codes": ["a1"]}, exchange.clerk("gz-fgw")).code == "UNKNOWN_UNIT"


def test_an_idempotency_key_longer_than_128_characters_is_a_validation_error(exchange):
    doc = sent_to(exchange, "a1")["id"]
    refused = exchange.refused("print_copy", doc, exchange.clerk("a1"), idempotency_key="k" * 129)
    assert (refused.code, list(refused.fields)) == ("VALIDATION_ERROR", ["Idempotency-Key"])
    refused = exchange.refused("send_document", {}, "", "b", [], exchange.clerk("gz-fgw"), idempotency_key="k" * 300)
    assert (refused.code, list(refused.fields)) == ("VALIDATION_ERROR", ["Idempotency-Key"])


def test_a_repeated_paper_delivery_record_answers_the_same_receipt_and_records_once(exchange):
    doc = sent_to(exchange, "a1")["id"]
    served = {"unit_code": "a1", "note": "断网期间纸质送达"}
    first = exchange.call("paper_delivery", doc, served, exchange.clerk("gz-fgw"))
    exchange.clock.advance(minutes=5)
    assert exchange.call("paper_delivery", doc, served, exchange.clerk("gz-fgw")) == first
    assert len(exchange.events("receipt_paper_served")) == 1
