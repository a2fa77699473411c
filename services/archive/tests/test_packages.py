"""Archival packages in the archive worker (SQLite, a moved clock), from a really sealed document
(a throw-away CA, the real CMS): the package is a valid BagIt bag, the same inputs give the same
bytes, its README's commands pass with the system's openssl and sha256sum, and a flipped byte
anywhere fails the four-property check."""
import base64
import io
import re
import subprocess
import uuid
import zipfile
from datetime import UTC, datetime, timedelta

import bagit
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gongwen_archive.domain import archiving, packages
from gongwen_archive.models import ArchivalPackage, Base, LedgerEntry, PackageJob
from gongwen_common import cms
from gongwen_common import manifest as manifests
from gongwen_seal.authority import certificate_pem, create_root, issue_seal_certificate

from .test_ledger import OPERATOR, Archive, envelope

# Real time: the README's openssl checks the certificates' validity at the moment it runs.
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


class SealedDocument:
    """A document as the exchange keeps it, sealed by a seal the throw-away CA issued."""

    def __init__(self, issuer="gz-a", recipients=("gz-b", "gz-c")):
        root_key, root = create_root(NOW)
        key = ec.generate_private_key(ec.SECP256R1())
        seal = issue_seal_certificate(root_key, root, unit_code=issuer, unit_name="广州市甲局", seal_serial="GW0001",
                                      public_key=key.public_key(), not_before=NOW,
                                      not_after=NOW + timedelta(days=365))
        self.ca_pem, self.seal_pem = certificate_pem(root), certificate_pem(seal)
        body, attachment = "<p>正文</p>".encode(), b"PK\x03\x04 sheet"
        manifest = manifests.canonical_bytes({
            "doc_number": "穗甲〔2026〕9号", "title": "关于归档检查的通知", "issuer_code": issuer,
            "body_sha256": manifests.sha256_hex(body),
            "attachments": [{"name": "附件1 名单.xlsx", "sha256": manifests.sha256_hex(attachment),
                             "size": len(attachment)}]})
        self.id = str(uuid.uuid4())
        self.record = {
            "document": {"id": self.id, "issuer_code": issuer, "doc_number": "穗甲〔2026〕9号",
                         "title": "关于归档检查的通知", "urgency": "urgent", "sent_at": NOW.isoformat(),
                         "status": "completed", "signer": "李四", "seal_serial": "GW0001",
                         "metadata": {"secrecy": "none", "main_recipients": list(recipients)},
                         "body": {"name": "正文.html"}, "sent_by": "clerk-a"},
            "manifest": base64.b64encode(manifest).decode(),
            "signature": base64.b64encode(cms.seal(manifest, seal, key, NOW)).decode(),
            "body": base64.b64encode(body).decode(),
            "attachments": [{"n": 1, "name": "附件1 名单.xlsx", "data": base64.b64encode(attachment).decode()}],
            "receipts": [{"unit_code": code, "state": "registered", "signed_at": NOW.isoformat(),
                          "registration_number": f"收{n}"} for n, code in enumerate(recipients)],
        }

    def sources(self):
        def record(document_id):
            if document_id != self.id:
                from gongwen_common.errors import NotFound
                raise NotFound(message="no such document")
            return self.record
        return archiving.Sources(record=record, ca_pem=lambda: self.ca_pem, seal_pem=lambda serial: self.seal_pem,
                                 notifications=lambda document_id: {"items": [], "settled": True})


@pytest.fixture
def archived(sqlite_session):
    archive = Archive(sqlite_session(Base))
    document = SealedDocument()
    for event_type in ("document_sent", "receipt_signed", "document_completed"):
        archive.take("exchange", envelope(event_type, {"id": document.id, "issuer_code": "gz-a"}))
    settings = archive.service._settings()
    row = archiving.archive_document(archive.session, settings, document.sources(), document.id, archive.clock())
    archive.session.commit()
    return archive, document, row


def unzipped(data: bytes, into) -> "Path":  # noqa: F821
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        package.extractall(into)
        return into / package.namelist()[0].split("/", 1)[0]


def test_a_completed_documents_package_is_kept_checked_and_entered_in_the_ledger(archived):
    archive, document, row = archived
    assert row.check_result["ok"], row.check_result
    assert all(row.check_result[p]["ok"] for p in ("authenticity", "integrity", "usability", "security"))
    entry = archive.session.query(LedgerEntry).filter_by(event_type="package_archived").one()
    assert entry.document_id == document.id and row.sha256 in entry.leaf_input.decode()
    assert row.units == ["gz-a", "gz-b", "gz-c"]


def test_the_package_is_a_valid_bagit_bag(archived, tmp_path):
    _, _, row = archived
    bag = bagit.Bag(str(unzipped(row.data, tmp_path)))
    bag.validate()  # raises on any problem
    assert bag.info["External-Identifier"] == row.document_id


def test_the_same_inputs_give_the_same_bytes(archived):
    archive, document, row = archived
    inputs = archiving.inputs_for(archive.session, archive.service._settings(), document.sources(),
                                  archiving._decoded(document.record), archive.clock())
    assert inputs.tree_head["tree_size"] >= row.tree_size
    again = packages.build(inputs)
    assert packages.build(inputs) == again
    archive.clock.advance(hours=5)  # a later build from the same inputs is byte for byte the same
    assert packages.build(inputs) == again


def test_the_readmes_commands_pass_with_openssl_and_sha256sum(archived, tmp_path):
    _, _, row = archived
    folder = unzipped(row.data, tmp_path)
    readme = (folder / "data" / "README.md").read_text()
    script = re.search(r"```sh\n(.*?)```", readme, re.S).group(1)
    ran = subprocess.run(["sh", "-e", "-c", script], cwd=folder, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    for said in ("bag: OK", "seal: OK", "正文.html: OK", "1-附件1 名单.xlsx: OK", "tree head: OK",
                 "ledger entries: OK"):
        assert said in ran.stdout, ran.stdout


def test_the_readmes_commands_fail_on_a_changed_attachment(archived, tmp_path):
    _, _, row = archived
    folder = unzipped(row.data, tmp_path)
    target = next((folder / "data" / "document" / "attachments").iterdir())
    target.write_bytes(target.read_bytes() + b"!")
    script = re.search(r"```sh\n(.*?)```", (folder / "data" / "README.md").read_text(), re.S).group(1)
    ran = subprocess.run(["sh", "-e", "-c", script], cwd=folder, capture_output=True, text=True, timeout=120)
    assert ran.returncode != 0


def test_a_flipped_byte_anywhere_fails_the_four_property_check(archived):
    _, document, row = archived
    data = bytearray(row.data)
    step = max(1, len(data) // 3000)
    for position in range(0, len(data), step):
        flipped = bytearray(data)
        flipped[position] ^= 0x01
        verdict = packages.check(bytes(flipped), document.ca_pem.encode(), expected_sha256=row.sha256)
        assert not verdict["ok"], position


def test_a_tampered_body_is_found_without_the_recorded_digest(archived):
    _, document, row = archived
    with zipfile.ZipFile(io.BytesIO(row.data)) as original:
        members = {info.filename: original.read(info) for info in original.infolist()}
    body = next(name for name in members if "/data/document/body/" in name)
    members[body] = b"<p>tampered</p>"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as rebuilt:
        for name, content in members.items():
            rebuilt.writestr(name, content)
    verdict = packages.check(out.getvalue(), document.ca_pem.encode())
    assert not verdict["integrity"]["ok"] and verdict["authenticity"]["ok"]


def test_the_package_goes_only_to_the_units_it_concerns(archived):
    archive, document, _ = archived
    settings, sources = archive.service._settings(), document.sources()
    data, name = archiving.package_for(archive.session, settings, sources, document.id,
                                       {"user_id": "x", "unit_code": "gz-b", "roles": ["clerk"]}, archive.clock())
    assert name == f"gongwen-{document.id}.zip" and data == archive.session.get(ArchivalPackage, document.id).data
    assert archiving.package_for(archive.session, settings, sources, document.id, OPERATOR, archive.clock())[0] == data
    with pytest.raises(Exception) as refused:
        archiving.package_for(archive.session, settings, sources, document.id,
                              {"user_id": "y", "unit_code": "gz-x", "roles": ["admin"]}, archive.clock())
    assert getattr(refused.value, "code", None) == "NOT_FOUND"


def test_a_completed_document_queues_its_package_once(sqlite_session):
    archive = Archive(sqlite_session(Base))
    completed = envelope("document_completed", {"id": "doc-1", "issuer_code": "a"})
    archive.take("exchange", completed)
    archive.take("exchange", completed)
    assert [job.document_id for job in archive.session.query(PackageJob)] == ["doc-1"]


def test_a_package_is_kept_for_its_kinds_retention_and_disposed_of_only_with_both_approvals(archived):
    archive, document, row = archived
    assert (row.retention_class, row.retain_until.year) == ("通知", archive.clock().year + 30)
    admin = {"user_id": "admin-a", "unit_code": "gz-a", "roles": ["admin"]}
    assert archive.refused("approve_disposal", document.id, OPERATOR).code == "RETENTION_NOT_PASSED"
    archive.clock.advance(days=366 * 30)
    assert archive.refused("approve_disposal", document.id,
                           {"user_id": "clerk-a", "unit_code": "gz-a", "roles": ["clerk"]}).code == "FORBIDDEN"
    assert archive.refused("approve_disposal", document.id,
                           {"user_id": "admin-b", "unit_code": "gz-b", "roles": ["admin"]}).code == "NOT_FOUND"
    first = archive.call("approve_disposal", document.id, OPERATOR)
    assert first["status"] == "awaiting_approval" and archive.call("approve_disposal", document.id, OPERATOR) == first
    assert archive.session.get(ArchivalPackage, document.id).data is not None  # one person is not enough
    done = archive.call("approve_disposal", document.id, admin)
    assert done["status"] == "disposed" and {a["capacity"] for a in done["approvals"]} == {"operator", "unit_admin"}
    kept = archive.session.get(ArchivalPackage, document.id)
    assert kept.data is None and kept.sha256 == row.sha256
    disposed = archive.session.query(LedgerEntry).filter_by(event_type="package_disposed").one()
    assert row.sha256 in disposed.leaf_input.decode()
    assert archive.refused("archival_package", document.id, OPERATOR).code == "NOT_FOUND"


def test_a_decision_is_kept_permanently(sqlite_session):
    archive = Archive(sqlite_session(Base))
    document = SealedDocument()
    document.record["document"]["title"] = "关于表彰先进集体的决定"
    archive.take("exchange", envelope("document_sent", {"id": document.id, "issuer_code": "gz-a"}))
    row = archiving.archive_document(archive.session, archive.service._settings(), document.sources(), document.id,
                                     archive.clock())
    archive.session.commit()
    assert (row.retention_class, row.retain_until) == ("决定", None)
    archive.clock.advance(days=366 * 100)
    assert archive.refused("approve_disposal", document.id, OPERATOR).code == "KEPT_PERMANENTLY"


@pytest.mark.parametrize("title,kind", [("关于印发办法的通知", "通知"), ("国务院令", "令"), ("中央军委命令", "命令"),
                                        ("关于商请支持的函", "函"), ("会议纪要", "纪要"), ("无文种标题", "default")])
def test_the_kind_of_a_document_is_the_one_its_title_ends_with(title, kind):
    from gongwen_archive.domain.retention import document_kind
    assert document_kind(title) == kind


def test_the_package_archived_event_loads_with_the_archives_contract_schema(archived):
    from gongwen_common.tables import OutboxEvent
    from gongwen_contracts.events import load_event_data

    archive, document, row = archived
    [event] = archive.session.query(OutboxEvent).filter_by(event_type="package_archived").all()
    loaded = load_event_data("archive", "package_archived", event.payload["data"])
    assert (loaded["document_id"], loaded["sha256"], loaded["unit_codes"]) == (document.id, row.sha256, row.units)
