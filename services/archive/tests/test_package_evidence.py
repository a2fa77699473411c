"""The notification evidence in an archival package (worker on SQLite, a moved clock): the package's
``data/notifications.json`` is notify's list of every unit's notifications, in a fixed order; if
notify does not answer, the package is built later, never with an empty evidence file; while the
document's messages are still on their way it waits a few times for their outcome, then archives
what is known."""
import io
import json
import zipfile

import pytest

from gongwen_archive.domain import archiving
from gongwen_archive.models import ArchivalPackage, Base, PackageJob
from gongwen_common.errors import ServiceUnavailable

from .test_ledger import Archive, envelope
from .test_packages import SealedDocument


def line(n, unit, status, **extra):
    return {"id": f"n-{n}", "unit_code": unit, "user_id": f"u-{n}", "role": "clerk", "channel": "sms",
            "to": "+86 138****8000", "step": 1, "status": status, "reason": None, "error_code": None,
            "created_at": f"2026-12-01T09:00:0{n}+00:00", "sent_at": None, "delivered_at": None, **extra}


class Notify:
    """Notify's ``archival_notifications`` as the archive sees it: answers, or is away."""

    def __init__(self, items, settled=True):
        self.items, self.settled, self.away, self.asked = items, settled, False, 0

    def __call__(self, document_id):
        self.asked += 1
        if self.away:
            raise ServiceUnavailable(message="notify did not answer within 10s")
        return {"document_id": document_id, "items": self.items, "settled": self.settled}


@pytest.fixture
def world(sqlite_session):
    archive = Archive(sqlite_session(Base))
    document = SealedDocument()
    items = [line(2, "gz-c", "skipped", reason="sms_not_enabled"),
             line(1, "gz-b", "delivered", sent_at="2026-12-01T09:00:03+00:00",
                  delivered_at="2026-12-01T09:00:09+00:00")]
    notify = Notify(items)
    sources = archiving.Sources(**{**document.sources().__dict__, "notifications": notify})
    for event_type in ("document_sent", "receipt_signed", "document_completed"):
        archive.take("exchange", envelope(event_type, {"id": document.id, "issuer_code": "gz-a"}))
    return archive, document, notify, sources


def build(archive, sources):
    built = archiving.build_due(archive.session, archive.service._settings(), sources, archive.clock())
    archive.session.commit()
    return built


def evidence_of(archive, document) -> bytes:
    data = archive.session.get(ArchivalPackage, document.id).data
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        [name] = [n for n in package.namelist() if n.endswith("data/notifications.json")]
        return package.read(name)


def test_the_package_holds_every_units_notifications_in_a_fixed_order(world):
    archive, document, notify, sources = world
    assert build(archive, sources) == 1
    raw = evidence_of(archive, document)
    assert [(i["unit_code"], i["status"], i["reason"]) for i in json.loads(raw)] == [
        ("gz-b", "delivered", None), ("gz-c", "skipped", "sms_not_enabled")]
    assert raw == json.dumps(json.loads(raw), ensure_ascii=False, indent=2, sort_keys=True).encode() + b"\n"
    # Notify answering in another order gives the same bytes.
    notify.items.reverse()
    settings = archive.service._settings()
    again = archiving.inputs_for(archive.session, settings, sources, archiving._decoded(document.record),
                                 archive.clock())
    assert json.dumps(again.notifications, ensure_ascii=False, indent=2, sort_keys=True).encode() + b"\n" == raw


def test_a_package_is_not_built_without_notifys_evidence_but_later(world):
    archive, document, notify, sources = world
    notify.away = True
    assert build(archive, sources) == 0
    assert archive.session.get(ArchivalPackage, document.id) is None
    job = archive.session.get(PackageJob, document.id)
    assert job.attempts == 1 and job.due_at > archive.clock()
    notify.away = False
    archive.clock.advance(seconds=archiving.RETRY_AFTER_SECONDS)
    assert build(archive, sources) == 1 and json.loads(evidence_of(archive, document))
    assert archive.session.get(PackageJob, document.id) is None


def test_a_package_waits_for_messages_on_their_way_then_takes_what_is_known(world):
    archive, document, notify, sources = world
    notify.settled = False
    for attempt in range(archiving.SETTLE_ATTEMPTS):
        assert build(archive, sources) == 0, attempt
        archive.clock.advance(seconds=archiving.RETRY_AFTER_SECONDS * (attempt + 1))
    assert build(archive, sources) == 1  # after about ten minutes, the statuses as they are
    assert notify.asked == archiving.SETTLE_ATTEMPTS + 1
