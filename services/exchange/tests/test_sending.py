"""Sending: a sealed document to main and copy recipients, all or nothing."""
import base64

from sqlalchemy import func, select

from gongwen_common import manifest as manifests
from gongwen_common.tables import OutboxEvent
from gongwen_exchange.models import Blob, Document, Receipt
from gongwen_seal.models import Seal, SealUse


def counts(exchange):
    return [exchange.session.scalar(select(func.count()).select_from(t)) for t in (Document, Receipt, OutboxEvent,
                                                                                   Blob)]


def test_send_seals_the_manifest_and_delivers_one_receipt_per_recipient(exchange):
    exchange.units("gz-fgw", "a1", "a2", "a3", "c1", "c2", sealed=["gz-fgw"])
    sent = exchange.send()
    assert [r["unit_code"] for r in sent["receipts"]] == ["a1", "a2", "a3", "c1", "c2"]
    assert [r["role"] for r in sent["receipts"]] == ["main"] * 3 + ["cc"] * 2
    assert {r["state"] for r in sent["receipts"]} == {"delivered"}
    assert sent["receipts"][0]["print_copies_granted"] == 2 and sent["receipts"][1]["print_copies_granted"] == 0
    manifest = exchange.download(sent["id"], "manifest", "a1")
    parsed = manifests.parse(manifest)
    assert manifests.is_canonical(manifest)
    assert (parsed["issuer_code"], parsed["body_sha256"], parsed["attachments"][0]["name"]) == (
        "gz-fgw", manifests.sha256_hex("<p>正文</p>".encode()), "附件1.pdf")
    assert "seal_use_approval_ids" not in parsed
    signature = exchange.download(sent["id"], "signature.p7s", "a1")
    checked = exchange.seal.service.verify(base64.b64encode(manifest).decode(), base64.b64encode(signature).decode())
    assert (checked["valid"], checked["unit_code"]) == (True, "gz-fgw")
    assert exchange.seal.session.scalar(select(SealUse.manifest_sha256)) == sent["manifest_sha256"]
    [event] = exchange.events("document_sent")
    assert (event["id"], len(event["receipts"])) == (sent["id"], 5)


def test_refusals_write_nothing(exchange):
    exchange.units("gz-fgw", "a1", "a2", "a3", "c1", "c2", "no-seal", sealed=["gz-fgw"])
    exchange.send()
    before = counts(exchange)
    for kwargs, code in (
            ({"secrecy": "秘密"}, "CLASSIFIED_NOT_ALLOWED"),
            ({"main": ("a1", "ghost")}, "UNKNOWN_UNIT"),
            ({"main": ("a1",), "cc": ("a1",)}, "VALIDATION_ERROR"),
            ({"main": ("gz-fgw",)}, "VALIDATION_ERROR"),
            ({}, "DOC_NUMBER_TAKEN"),  # 穗发改〔2026〕12号 again
            ({"doc_number": "x1", "urgency": "soon"}, "VALIDATION_ERROR"),
            ({"doc_number": "x2", "print_grants": {"zz": 1}}, "VALIDATION_ERROR"),
            ({"doc_number": "x3", "sender": "no-seal"}, "SEAL_NOT_ACTIVE"),
            ({"doc_number": "x4", "actor": {"user_id": "s", "unit_code": "gz-fgw", "roles": ["staff"]}},
             "FORBIDDEN")):
        try:
            exchange.send(**kwargs)
        except Exception as exc:  # noqa: BLE001 - the refusal is what is checked
            exchange.session.rollback()
            assert getattr(exc, "code", None) == code, (kwargs, exc)
        else:
            raise AssertionError(f"{kwargs} was not refused")
    assert counts(exchange) == before
    exchange.service.config["EXCHANGE_MAX_FILE_BYTES"] = 10
    assert exchange.refused("send_document", {}, base64.b64encode(b"x" * 11).decode(), "b", [],
                            exchange.clerk("gz-fgw")).code in ("PAYLOAD_TOO_LARGE", "VALIDATION_ERROR")
    assert counts(exchange) == before


def test_a_retried_send_with_the_same_key_creates_one_document(exchange):
    exchange.units("gz-fgw", "a1", "a2", "a3", "c1", "c2", sealed=["gz-fgw"])
    first = exchange.send(key="send-1")
    again = exchange.send(key="send-1")
    assert again["id"] == first["id"]
    assert exchange.session.scalar(select(func.count()).select_from(Document)) == 1
    assert len(exchange.events("document_sent")) == 1


def test_file_names_are_sanitised_and_blobs_stored_once(exchange):
    exchange.units("gz-fgw", "a1", sealed=["gz-fgw"])
    same = b"same bytes"
    sent = exchange.send(main=("a1",), cc=(), body=same,
                         attachments=(("../../etc/passwd", same), ("附件:二?.doc", b"two"), ("...", b"three")))
    assert [a["name"] for a in sent["attachments"]] == ["passwd", "附件_二_.doc", "attachment-3"]
    assert exchange.session.scalar(select(func.count()).select_from(Blob)) == 3


def test_fan_out_to_a_thousand_units(exchange):
    codes = [f"u{n:04d}" for n in range(1000)]
    exchange.units("gz-fgw", *codes, sealed=["gz-fgw"])
    sent = exchange.send(main=codes[:900], cc=codes[900:], attachments=())
    assert len(sent["receipts"]) == 1000
    assert exchange.session.scalar(select(func.count()).select_from(Receipt)) == 1000
    assert len(exchange.events("document_sent")[0]["receipts"]) == 1000


def test_under_two_person_custody_the_document_waits_for_its_custodians_then_goes_out(exchange):
    exchange.units("gz-fgw", "a1", "a2", sealed=["gz-fgw"],
                   custody={"required_approvals": 2, "custodian_user_ids": ["li", "wang"]})
    draft = exchange.send(main=("a1", "a2"), cc=())
    assert (draft["status"], draft["receipts"], draft["seal_serial"]) == ("awaiting_seal", [], None)
    assert exchange.events("document_sent") == [] and exchange.call("inbox", exchange.clerk("a1"))["items"] == []
    assert exchange.refused("seal_document", draft["id"], {"seal_use_approval_ids": None},
                            exchange.clerk("gz-fgw")).code == \
        "CUSTODY_APPROVAL_REQUIRED"

    serial = exchange.seal.session.scalar(select(Seal.serial).where(Seal.unit_code == "gz-fgw"))
    approvals = [exchange.seal.service.approve_use(serial, {"manifest_sha256": draft["manifest_sha256"]},
                                                   {"user_id": keeper, "unit_code": "gz-fgw", "roles": ["custodian"]})
                 ["approval_id"] for keeper in ("li", "wang")]
    exchange.seal.session.commit()
    sent = exchange.call("seal_document", draft["id"], {"seal_use_approval_ids": approvals}, exchange.clerk("gz-fgw"))
    assert (sent["status"], sent["seal_serial"], len(sent["receipts"])) == ("sent", serial, 2)
    assert [e["id"] for e in exchange.events("document_sent")] == [draft["id"]]
    signature = exchange.download(draft["id"], "signature.p7s", "a1")
    manifest = exchange.download(draft["id"], "manifest", "a1")
    checked = exchange.seal.service.verify(base64.b64encode(manifest).decode(), base64.b64encode(signature).decode())
    assert checked["valid"]
    assert exchange.refused("seal_document", draft["id"], {"seal_use_approval_ids": approvals},
                            exchange.clerk("gz-fgw")).code == \
        "INVALID_RECEIPT_STATE"  # sent once
