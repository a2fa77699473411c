"""A revoked unit's open receipts go as the revoking decision says, and a revoked seal's waiting
documents are withdrawn (issue 9, item 13). Events are handled as the broker would deliver them,
including twice."""
from sqlalchemy import func, select

from gongwen_exchange.models import Receipt


def revoked(exchange, code, documents, successor=None, event_id=None):
    envelope = {"event_id": event_id or f"rv-{code}", "event_type": "unit_revoked",
                "occurred_at": exchange.clock.now.isoformat(),
                "data": {"unit": {"code": code, "name": f"单位{code}", "status": "revoked", "version": 9},
                         "reason": "机构改革", "documents": documents, "successor_code": successor}}
    exchange.call("on_unit_revoked", envelope)
    exchange.call("on_unit_revoked", envelope)  # redelivered: handled once


def states(exchange, doc):
    return {r["unit_code"]: (r["state"], r["closed_reason"]) for r in exchange.call("receipts", doc,
                                                                                    exchange.clerk("gz-fgw"))}


def test_transfer_readdresses_a_revoked_units_open_receipts_to_its_successor(exchange):
    exchange.units("gz-fgw", "a1", "a2", "succ", sealed=["gz-fgw"])
    doc = exchange.send(main=("a1", "a2"), cc=(), print_grants={"a1": 2})["id"]
    exchange.call("print_copy", doc, exchange.clerk("a1"))
    exchange.clock.advance(minutes=20)
    revoked(exchange, "a1", "transfer", successor="succ")
    matrix = exchange.call("receipts", doc, exchange.clerk("gz-fgw"))
    old = next(r for r in matrix if r["unit_code"] == "a1")
    moved = next(r for r in matrix if r["unit_code"] == "succ")
    assert (old["closed_reason"], old["overdue"]) == ("transferred", False)
    assert (moved["state"], moved["resent_from"], moved["role"]) == ("delivered", old["receipt_id"], "main")
    assert moved["print_copies_granted"] == 1  # the copies a1 had left
    assert moved["due_at"] > old["due_at"]  # counted from the transfer: the successor could do nothing before
    inbox = exchange.call("inbox", exchange.clerk("succ"))["items"]
    assert [i["document"]["id"] for i in inbox] == [doc]
    assert exchange.refused("sign_for", doc, exchange.clerk("a1")).code == "NOT_FOUND"
    assert exchange.call("sign_for", doc, exchange.clerk("succ"))["state"] == "signed"
    assert [e["transferred_from"] for e in exchange.events("document_sent") if "transferred_from" in e] == ["a1"]
    # Long after the old deadline, nobody is alarmed about the revoked unit's receipt.
    exchange.clock.advance(hours=5)
    exchange.call("sweep_overdue")
    assert "a1" not in {e["unit_code"] for e in exchange.events("receipt_overdue")}


def test_transfer_to_a_successor_that_already_received_it_makes_no_second_receipt(exchange):
    exchange.units("gz-fgw", "a1", "succ", sealed=["gz-fgw"])
    doc = exchange.send(main=("a1", "succ"), cc=())["id"]
    revoked(exchange, "a1", "transfer", successor="succ")
    assert exchange.session.scalar(select(func.count()).select_from(Receipt).where(Receipt.unit_code == "succ")) == 1
    assert states(exchange, doc)["a1"] == ("delivered", "transferred")


def test_keep_and_archive_close_the_open_receipts_and_stop_the_overdue_alarm(exchange):
    exchange.units("gz-fgw", "a1", "a2", "a3", sealed=["gz-fgw"])
    doc = exchange.send(main=("a1", "a2", "a3"), cc=())["id"]
    exchange.call("sign_for", doc, exchange.clerk("a3"))
    exchange.call("register", doc, {"registration_number": "收〔2026〕3号"}, exchange.clerk("a3"))
    revoked(exchange, "a1", "keep")
    revoked(exchange, "a2", "archive")
    assert states(exchange, doc) == {"a1": ("delivered", "kept"), "a2": ("delivered", "archived"),
                                     "a3": ("registered", None)}
    exchange.clock.advance(days=3)
    exchange.call("sweep_overdue")
    assert exchange.events("receipt_overdue") == []
    assert all(not r["overdue"] for r in exchange.call("receipts", doc, exchange.clerk("gz-fgw")))
    # Nothing else to wait for: the document completes, once.
    assert exchange.call("get_document", doc, exchange.clerk("gz-fgw"))["status"] == "completed"
    assert len(exchange.events("document_completed")) == 1
    # A closed receipt takes no further step, but the unit's record of it stays readable.
    assert exchange.refused("sign_for", doc, exchange.clerk("a1")).code == "INVALID_RECEIPT_STATE"
    assert exchange.call("get_document", doc, exchange.clerk("a1"))["receipt"]["closed_reason"] == "kept"


def test_a_revocation_leaves_handled_receipts_and_other_units_alone(exchange):
    exchange.units("gz-fgw", "a1", "a2", "succ", sealed=["gz-fgw"])
    doc = exchange.send(main=("a1", "a2"), cc=())["id"]
    exchange.call("sign_for", doc, exchange.clerk("a1"))
    exchange.call("register", doc, {"registration_number": "收〔2026〕1号"}, exchange.clerk("a1"))
    revoked(exchange, "a1", "transfer", successor="succ")
    assert states(exchange, doc) == {"a1": ("registered", None), "a2": ("delivered", None)}


def test_a_document_awaiting_a_revoked_seal_is_withdrawn_and_sent_ones_still_sign(exchange):
    exchange.units("gz-fgw", "a1")
    custody = {"required_approvals": 2, "custodian_user_ids": ["k1", "k2"]}
    exchange.units(sealed=["gz-fgw"], custody=custody)
    waiting = exchange.send(main=("a1",), cc=())
    assert waiting["status"] == "awaiting_seal"
    exchange.clock.advance(minutes=1)
    envelope = {"event_id": "sr-1", "event_type": "seal_revoked", "occurred_at": exchange.clock.now.isoformat(),
                "data": {"serial": "GW-1", "unit_code": "gz-fgw", "status": "revoked",
                         "revoked_at": exchange.clock.now.isoformat(), "reason": "遗失"}}
    exchange.call("on_seal_revoked", envelope)
    exchange.call("on_seal_revoked", envelope)
    assert exchange.call("get_document", waiting["id"], exchange.clerk("gz-fgw"))["status"] == "recalled"
    assert len(exchange.events("document_recalled")) == 1
    assert exchange.refused("seal_document", waiting["id"], {"seal_use_approval_ids": ["ap-1"]},
                            exchange.clerk("gz-fgw")).code == \
        "INVALID_RECEIPT_STATE"


def test_a_document_sent_before_its_seal_was_revoked_still_verifies_at_sign_for(exchange):
    exchange.units("gz-fgw", "a1", sealed=["gz-fgw"])
    sent = exchange.send(main=("a1",), cc=())
    exchange.clock.advance(minutes=1)
    admin = {"user_id": "admin-gz-fgw", "unit_code": "gz-fgw", "roles": ["admin"]}
    exchange.seal.service.revoke_seal(sent["seal_serial"], {"reason": "印章遗失"}, admin)
    exchange.seal.session.commit()
    exchange.call("on_seal_revoked", {"event_id": "sr-2", "event_type": "seal_revoked",
                                      "occurred_at": exchange.clock.now.isoformat(),
                                      "data": {"serial": sent["seal_serial"], "unit_code": "gz-fgw"}})
    exchange.clock.advance(minutes=1)
    assert exchange.call("sign_for", sent["id"], exchange.clerk("a1"))["state"] == "signed"
    assert exchange.call("get_document", sent["id"], exchange.clerk("gz-fgw"))["status"] == "sent"
