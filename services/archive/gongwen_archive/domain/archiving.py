"""Archiving (归档): when a document completes, its package is built, checked for the four
properties, kept, and its digest entered in the ledger; on demand, anyone it concerns gets the
package (the kept one, or for a document still open one built now and not kept)."""
import base64
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from gongwen_common.audit import Caller
from gongwen_common.db import insert_new
from gongwen_common.entrypoints import Event
from gongwen_common.errors import NotFound
from gongwen_contracts.archive import merkle

from ..models import ArchivalPackage, LedgerEntry, LedgerKey, PackageJob
from . import ledger, packages, retention

log = logging.getLogger(__name__)
BATCH = 5
RETRY_AFTER_SECONDS = 30
# How many times the builder waits for notify's messages still on their way (30 s, 60 s, … apart:
# about ten minutes, notify's own wait before it fetches a status whose callback never came); then
# the package takes the statuses as they are, and the ledger keeps whatever comes later.
SETTLE_ATTEMPTS = 6


class EvidenceUnsettled(Exception):
    """Notify still has messages of the document on their way: its package waits for their outcome."""


@dataclass(frozen=True)
class Sources:
    """What the archive asks the other services for (over RPC in the service, plain functions in tests)."""

    record: Callable[[str], dict]  # exchange's archival_record, as it answers (bytes in base64)
    ca_pem: Callable[[], str]
    seal_pem: Callable[[str], str | None]
    notifications: Callable[[str], dict]  # notify's archival_notifications: {"items", "settled"}


def queue_package(session, document_id: str, now) -> None:
    """Build the package of this completed document (once, whatever the redeliveries)."""
    insert_new(session, PackageJob, document_id=document_id, due_at=now, attempts=0)


def claim_due_job(session, now) -> PackageJob | None:
    """One job due now, claimed by its row lock until this transaction ends: another instance's
    builder skips it (``FOR UPDATE SKIP LOCKED``) and, once it is built, finds it gone."""
    return session.scalar(select(PackageJob).where(PackageJob.due_at <= now).order_by(PackageJob.due_at)
                          .limit(1).with_for_update(skip_locked=True))


def _decoded(record: dict) -> dict:
    def raw(value):
        return base64.b64decode(value) if value is not None else None
    return {**record, "manifest": raw(record["manifest"]), "signature": raw(record["signature"]),
            "body": raw(record["body"]),
            "attachments": [{**a, "data": raw(a["data"])} for a in record["attachments"]]}


def units_of(record: dict) -> list[str]:
    return sorted({record["document"]["issuer_code"], *(r["unit_code"] for r in record["receipts"])})


def notification_evidence(sources: Sources, document_id: str, wait: bool) -> list:
    """Who was told of the document and the outcome (001 §21), every unit's, in a fixed order (the
    package is reproducible). Notify unreachable or not knowing the document: the error goes up, so
    the package is built later rather than with an empty evidence file. ``wait``: refuse evidence
    with messages still on their way (:class:`EvidenceUnsettled`)."""
    answer = sources.notifications(document_id)
    if wait and not answer.get("settled", True):
        raise EvidenceUnsettled(f"notify has messages of {document_id} still on their way")
    return sorted(answer["items"], key=lambda item: (item["created_at"], item["id"]))


def inputs_for(session, settings, sources: Sources, record: dict, now, wait=False) -> packages.PackageInputs:
    """The package's inputs: the record, certificates, notification evidence, and the document's
    ledger entries proven in a tree head that covers them (signed now if the last one does not).
    The other services are asked first: the head takes the ledger's lock, which appends of every
    instance wait on until this transaction ends."""
    document = record["document"]
    serial = document.get("seal_serial")
    ca_pem, seal_pem = sources.ca_pem(), sources.seal_pem(serial) if serial else None
    notifications = notification_evidence(sources, document["id"], wait)
    head = ledger.publish_tree_head(session, settings, now)
    size = head["tree_size"]
    nodes = ledger.StoredNodes(session)
    entries = [{"index": e.seq, "leaf_input": e.leaf_input,
                "audit_path": merkle.inclusion_proof(nodes, e.seq, size)}
               for e in session.scalars(select(LedgerEntry).where(LedgerEntry.document_id == document["id"],
                                                                  LedgerEntry.seq < size).order_by(LedgerEntry.seq))]
    key = session.get(LedgerKey, head["key_id"])
    return packages.PackageInputs(
        record=record, ca_pem=ca_pem, seal_pem=seal_pem, notifications=notifications, entries=entries,
        tree_head=head,
        tree_head_tbs=merkle.tree_head_input(head["timestamp"], size, base64.b64decode(head["root_hash"])),
        archive_key_pem=key.public_key_pem)


def archive_document(session, settings, sources: Sources, document_id: str, now, wait=False) -> ArchivalPackage:
    """Build, check and keep the package; its digest and the check's verdict become a ledger entry.
    ``wait``: not while notify has the document's messages on their way (:class:`EvidenceUnsettled`)."""
    kept = session.get(ArchivalPackage, document_id)
    if kept is not None:
        return kept
    record = _decoded(sources.record(document_id))
    inputs = inputs_for(session, settings, sources, record, now, wait=wait)
    data = packages.build(inputs)
    digest = hashlib.sha256(data).hexdigest()
    verdict = packages.check(data, inputs.ca_pem.encode(), expected_sha256=digest)
    kind = retention.document_kind(record["document"]["title"])
    row = ArchivalPackage(document_id=document_id, sha256=digest, size=len(data), data=data, units=units_of(record),
                          issuer_code=record["document"]["issuer_code"], tree_size=inputs.tree_head["tree_size"],
                          check_result=verdict, archived_at=now, retention_class=kind,
                          retain_until=settings.retention.retain_until(kind, now))
    session.add(row)
    archived = {"document_id": document_id, "sha256": digest, "size": len(data), "tree_size": row.tree_size,
                "issuer_code": row.issuer_code, "unit_codes": row.units, "retention_class": kind,
                "retain_until": row.retain_until.isoformat() if row.retain_until else None,
                "four_properties": {name: verdict[name]["ok"] for name in ("authenticity", "integrity", "usability",
                                                                           "security")}}
    ledger.append(session, "archive", Event(str(uuid.uuid4()), "package_archived", now.isoformat(), archived), now)
    # The exchange may drop the document's content once its own retention has passed (003 第二篇 §6).
    session.emit("package_archived", archived, at=now)
    return row


def build_due(session, settings, sources: Sources, now) -> int:
    """The builder timer's work: each claimed job's package, or the job put off when a source failed
    (or, a few times, while the document's messages are still on their way). One job per transaction
    (committed here), so the ledger's lock, which a build takes, is not held while the next job waits
    on the other services."""
    built = 0
    for _ in range(BATCH):
        job = claim_due_job(session, now)
        if job is None:
            break
        try:
            with session.begin_nested():
                archive_document(session, settings, sources, job.document_id, now,
                                 wait=job.attempts < SETTLE_ATTEMPTS)
        except Exception as failure:  # a service away or a transient fault: the job is kept for later
            job.attempts += 1
            job.due_at = now + timedelta(seconds=RETRY_AFTER_SECONDS * job.attempts)
            (log.info if isinstance(failure, EvidenceUnsettled) else log.warning)(
                "archival package of %s not built (attempt %d): %s", job.document_id, job.attempts, failure)
        else:
            session.delete(job)
            built += 1
        session.commit()
    return built


def package_for(session, settings, sources: Sources, document_id, actor, now) -> tuple[bytes, str]:
    """The package for someone it concerns (sender, recipients, operator); 404 for anyone else."""
    caller = Caller.of(actor)
    kept = session.get(ArchivalPackage, document_id) if isinstance(document_id, str) else None
    if kept is not None:
        units, data = kept.units, kept.data
        if data is None and (caller.is_operator or caller.unit_code in units):
            raise NotFound(message=f"The package of {document_id} was disposed of on "
                                   f"{kept.disposed_at.date().isoformat()} (its digest stays in the ledger).")
    else:
        record = _decoded(sources.record(document_id))
        units = units_of(record)
        if not (caller.is_operator or caller.unit_code in units):
            raise NotFound(message=f"no document {document_id!r}")
        data = packages.build(inputs_for(session, settings, sources, record, now))
    if not (caller.is_operator or caller.unit_code in units):
        raise NotFound(message=f"no document {document_id!r}")
    return data, f"gongwen-{document_id}.zip"
