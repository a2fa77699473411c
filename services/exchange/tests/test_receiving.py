"""The recipient's workflow and the sender's view of it."""
from sqlalchemy import func, select

from gongwen_common.tables import OutboxEvent
from gongwen_exchange.models import AuditRecord, Blob, Document, Receipt
from gongwen_seal.models import PrintStamp


def sent_to_all(exchange, **kwargs):
    exchange.units("gz-fgw", "a1", "a2", "a3", "c1", "c2", sealed=["gz-fgw"])
    return exchange.send(**kwargs)


def test_each_recipient_reads_signs_and_registers_and_the_document_completes_once(exchange):
    sent = sent_to_all(exchange)
    doc = sent["id"]
    inbox = exchange.call("inbox", exchange.clerk("a1"))
    assert [(i["document"]["id"], i["state"]) for i in inbox["items"]] == [(doc, "delivered")]
    for code in ("a1", "a2", "a3", "c1", "c2"):
        exchange.clock.advance(minutes=1)
        exchange.download(doc, "body", code)
        signed = exchange.call("sign_for", doc, exchange.clerk(code))
        assert (signed["state"], signed["signed_by"]) == ("signed", f"clerk-{code}")
        exchange.call("register", doc, {"registration_number": f"收文〔2026〕{code}"}, exchange.clerk(code))
    matrix = exchange.call("receipts", doc, exchange.clerk("gz-fgw"))
    assert {r["state"] for r in matrix} == {"registered"}
    assert all(r["first_read_at"] <= r["signed_at"] <= r["registered_at"] for r in matrix)
    assert len(exchange.events("document_completed")) == 1
    assert len(exchange.events("receipt_signed")) == 5 and len(exchange.events("document_read")) == 5
    outbox = exchange.call("outbox", exchange.clerk("gz-fgw"))
    assert outbox["items"][0]["receipt_counts"] == {"registered": 5} and outbox["items"][0]["status"] == "completed"


def test_only_the_units_concerned_see_a_document(exchange):
    sent = sent_to_all(exchange)
    exchange.units("stranger")
    for method, args in (("get_document", ()), ("download", ("body",)), ("sign_for", ()), ("receipts", ())):
        assert exchange.refused(method, sent["id"], *args, exchange.clerk("stranger")).code == "NOT_FOUND"
    assert exchange.call("inbox", exchange.clerk("stranger"))["items"] == []
    assert exchange.refused("receipts", sent["id"], exchange.clerk("a1")).code == "NOT_FOUND"  # the sender's matrix
    mine = exchange.call("get_document", sent["id"], exchange.clerk("a1"))
    assert mine["receipt"]["unit_code"] == "a1" and "receipts" not in mine
    staff = {"user_id": "s1", "unit_code": "a1", "roles": ["staff"]}
    assert exchange.refused("sign_for", sent["id"], staff).code == "FORBIDDEN"


def test_a_tampered_stored_body_is_refused_at_sign_for_and_nothing_changes(exchange):
    sent = sent_to_all(exchange)
    document = exchange.session.get(Document, sent["id"])
    blob = exchange.session.get(Blob, document.body_sha256)
    blob.data = blob.data + b"<!-- changed in the store -->"
    exchange.session.commit()
    refused = exchange.refused("sign_for", sent["id"], exchange.clerk("a1"))
    assert (refused.code, refused.fields) == ("SEAL_INVALID", {"reason": "DIGEST_MISMATCH"})
    receipt = exchange.session.scalar(select(Receipt).where(Receipt.unit_code == "a1"))
    assert (receipt.state, receipt.signed_at, receipt.first_read_at) == ("delivered", None, None)
    assert exchange.events("receipt_signed") == []


def test_return_with_a_reason_then_resend_linked_to_the_original(exchange):
    sent = sent_to_all(exchange)
    doc = sent["id"]
    assert exchange.refused("return_document", doc, {"reason": ""}, exchange.clerk("a2")).code == "VALIDATION_ERROR"
    returned = exchange.call("return_document", doc, {"reason": "附件缺页"}, exchange.clerk("a2"))
    assert (returned["state"], returned["return_reason"]) == ("returned", "附件缺页")
    assert exchange.refused("resend", doc, {"unit_codes": ["a1"]},
                            exchange.clerk("gz-fgw")).code == "INVALID_RECEIPT_STATE"
    [again] = exchange.call("resend", doc, {"unit_codes": ["a2"]}, exchange.clerk("gz-fgw"))
    assert (again["state"], again["generation"], again["resent_from"]) == ("delivered", 2, returned["receipt_id"])
    assert exchange.call("sign_for", doc, exchange.clerk("a2"))["generation"] == 2
    matrix = exchange.call("receipts", doc, exchange.clerk("gz-fgw"))
    assert [(r["unit_code"], r["generation"], r["state"]) for r in matrix if r["unit_code"] == "a2"] == [
        ("a2", 1, "returned"), ("a2", 2, "signed")]

    # A recipient whose receipt failed may ask for a resend; the sender answers it.
    exchange.call("request_resend", doc, {"reason": "无法打开正文"}, exchange.clerk("a3"))
    assert exchange.call("resend", doc, {"unit_codes": ["a3"]}, exchange.clerk("gz-fgw"))[0]["generation"] == 2


def test_print_within_the_grant_with_a_verification_stamp_and_ask_for_more(exchange):
    sent = sent_to_all(exchange)
    doc = sent["id"]
    first = exchange.call("print_copy", doc, exchange.clerk("a1"))
    assert (first["copy_number"], first["copies_left"]) == (1, 1) and first["stamp"]["print_serial"]
    receipt = exchange.call("get_document", doc, exchange.clerk("a1"))["receipt"]
    assert receipt["first_read_at"] and receipt["state"] == "read"  # the first print is the receipt time
    exchange.call("print_copy", doc, exchange.clerk("a1"))
    assert exchange.refused("print_copy", doc, exchange.clerk("a1")).code == "PRINT_NOT_GRANTED"
    assert exchange.refused("print_copy", doc, exchange.clerk("a2")).code == "PRINT_NOT_GRANTED"  # none granted
    asked = exchange.call("request_print_copies", doc, {"copies": 3, "reason": "会议需要"}, exchange.clerk("a1"))
    assert exchange.refused("grant_print_request", doc, asked["request_id"], exchange.clerk("a1")).code == \
        "NOT_FOUND"  # only the sender answers
    granted = exchange.call("grant_print_request", doc, asked["request_id"], exchange.clerk("gz-fgw"))
    assert granted["print_copies_granted"] == 5
    assert exchange.call("print_copy", doc, exchange.clerk("a1"))["copy_number"] == 3
    printed = exchange.session.scalars(select(AuditRecord.details).where(AuditRecord.action == "document_printed")
                                       .order_by(AuditRecord.id)).all()
    assert [p["copy_number"] for p in printed] == [1, 2, 3]  # every print recorded, with its stamp's serial
    assert len({p["print_serial"] for p in printed}) == 3
    assert exchange.seal.session.scalar(select(func.count()).select_from(PrintStamp)) == 3


def test_recall_only_while_nobody_signed_and_paper_service_completes_the_record(exchange):
    sent = sent_to_all(exchange)
    recalled = exchange.call("recall", sent["id"], exchange.clerk("gz-fgw"))
    assert recalled["status"] == "recalled"
    assert exchange.call("inbox", exchange.clerk("a1"))["items"][0]["state"] == "recalled"
    assert exchange.refused("sign_for", sent["id"], exchange.clerk("a1")).code == "INVALID_RECEIPT_STATE"

    other = exchange.send(doc_number="穗发改〔2026〕13号", main=("a1", "a2"), cc=())
    exchange.call("sign_for", other["id"], exchange.clerk("a1"))
    assert exchange.refused("recall", other["id"], exchange.clerk("gz-fgw")).code == "RECALL_NOT_ALLOWED"
    exchange.call("register", other["id"], {"registration_number": "R-1"}, exchange.clerk("a1"))
    served = exchange.call("paper_delivery", other["id"], {"unit_code": "a2", "note": "系统故障，已送纸质件"},
                           exchange.clerk("gz-fgw"))
    assert (served["state"], served["paper_served_by"]) == ("paper_served", "clerk-gz-fgw")
    assert [e["id"] for e in exchange.events("document_completed")] == [other["id"]]


def test_a_proxy_signs_for_the_clerk_and_the_record_shows_both(exchange):
    sent = sent_to_all(exchange)
    by_proxy = exchange.clerk("a1", user_id="clerk-a1", proxy="staff-a1")
    signed = exchange.call("sign_for", sent["id"], by_proxy)
    assert (signed["signed_by"], signed["signed_by_proxy"]) == ("clerk-a1", "staff-a1")


def test_each_print_request_act_has_one_name_from_rpc_to_audit(exchange):
    """Asking, granting and refusing copies: the RPC, the domain function and the audit action
    name the same act (request_print_copies → print_copies_requested, grant_print_request →
    print_request_granted, refuse_print_request → print_request_refused)."""
    doc = sent_to_all(exchange)["id"]
    first = exchange.call("request_print_copies", doc, {"copies": 1, "reason": "会议需要"}, exchange.clerk("a1"))
    second = exchange.call("request_print_copies", doc, {"copies": 2, "reason": "再要两份"}, exchange.clerk("a1"))
    assert exchange.call("refuse_print_request", doc, first["request_id"], exchange.clerk("gz-fgw"))["state"] == \
        "refused"
    granted = exchange.call("grant_print_request", doc, second["request_id"], exchange.clerk("gz-fgw"))
    assert (granted["state"], granted["print_copies_granted"]) == ("granted", 4)
    assert exchange.refused("refuse_print_request", doc, second["request_id"], exchange.clerk("gz-fgw")).code == \
        "INVALID_RECEIPT_STATE"  # answered once
    actions = exchange.session.scalars(select(AuditRecord.action).where(AuditRecord.action.like("print%"))
                                       .order_by(AuditRecord.id)).all()
    assert actions == ["print_copies_requested", "print_copies_requested", "print_request_refused",
                       "print_request_granted"]


def test_the_exchange_and_seal_events_carry_the_services_clock(exchange):
    """An event's ``occurred_at`` is when the change happened by the service's clock, the time
    consumers' rules read; not the wall clock."""
    exchange.units("gz-fgw", "a1", sealed=("gz-fgw",))
    signed_at = exchange.clock.advance(days=3)
    doc = exchange.send(main=("a1",), cc=())["id"]
    exchange.call("sign_for", doc, exchange.clerk("a1"))
    for session, types in ((exchange.session, ("document_sent", "receipt_signed")),
                           (exchange.seal.session, ("seal_used",))):
        rows = session.scalars(select(OutboxEvent).where(OutboxEvent.event_type.in_(types))).all()
        assert {row.event_type for row in rows} == set(types)
        assert {row.payload["occurred_at"] for row in rows} == {signed_at.isoformat()}


def test_an_inbox_cursor_naming_no_receipt_of_the_unit_is_not_found_not_a_bad_request(exchange):
    """A cursor is any text (the document says so); one naming nothing of the unit is 404, like any id."""
    sent_to_all(exchange)
    mine = exchange.call("inbox", exchange.clerk("a1"))["items"][0]["receipt_id"]
    for clerk, cursor in (("a1", "no-such-receipt"), ("a2", mine)):  # unknown, and another unit's receipt
        refused = exchange.refused("inbox", exchange.clerk(clerk), cursor=cursor)
        assert (refused.code, refused.status) == ("NOT_FOUND", 404)
    assert exchange.call("inbox", exchange.clerk("a1"), cursor=mine)["items"] == []
