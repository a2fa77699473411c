"""The exchange's own retention: a document's content leaves the store only once the archive has
its package and ``EXCHANGE_CONTENT_RETENTION_DAYS`` have passed; a blob another document still
needs stays; the record, manifest and signature stay."""
import uuid

from gongwen_exchange.models import Blob, Document

from .conftest import digest


def archived(exchange, document_id):
    exchange.service.on_package_archived({"event_id": uuid.uuid4().hex, "event_type": "package_archived",
                                          "occurred_at": exchange.clock().isoformat(),
                                          "data": {"document_id": document_id, "sha256": "0" * 64}})
    exchange.session.commit()


def test_content_stays_until_archived_and_past_the_exchanges_retention(exchange):
    exchange.units("gz-fgw", "a1", sealed=("gz-fgw",))
    document = exchange.send(main=("a1",), cc=(), attachments=(("附件.txt", b"only mine"),))["id"]
    exchange.clock.advance(days=400)
    assert exchange.call("purge_archived_content") == 0  # past the retention, but not archived: stays
    assert exchange.download(document, "body", "a1") == "<p>正文</p>".encode()
    archived(exchange, document)
    assert exchange.session.get(Document, document).archived_at is not None
    assert exchange.call("purge_archived_content") == 2
    refused = exchange.refused("download", document, "body", exchange.clerk("a1"))
    assert refused.code == "NOT_FOUND" and "archival package" in refused.message
    assert exchange.download(document, "manifest", "a1")  # the record and the sealed manifest stay
    assert exchange.session.get(Blob, digest(b"only mine")).data == b""


def test_an_archived_document_keeps_its_content_within_the_retention(exchange):
    exchange.units("gz-fgw", "a1", sealed=("gz-fgw",))
    document = exchange.send(main=("a1",), cc=())["id"]
    archived(exchange, document)
    exchange.clock.advance(days=30)
    assert exchange.call("purge_archived_content") == 0
    assert exchange.download(document, "body", "a1") == "<p>正文</p>".encode()


def test_a_blob_another_document_still_needs_stays(exchange):
    exchange.units("gz-fgw", "a1", sealed=("gz-fgw",))
    shared = (("共用附件.pdf", b"%PDF shared"),)
    old = exchange.send(main=("a1",), cc=(), attachments=shared, doc_number="穗发改〔2026〕1号")["id"]
    exchange.clock.advance(days=400)
    new = exchange.send(main=("a1",), cc=(), attachments=shared, doc_number="穗发改〔2026〕2号")["id"]
    archived(exchange, old)
    exchange.call("purge_archived_content")
    assert exchange.session.get(Blob, digest(b"%PDF shared")).purged_at is None
    assert exchange.download(new, "attachments/1", "a1") == b"%PDF shared"
