"""Concurrent first calls on PostgreSQL (issue 9, items 2 and 8): two workers sealing the same
request, or stamping with the same key, at the same moment make one effect, and both answer it;
neither fails."""
import base64
import hashlib
import uuid
from datetime import UTC, datetime

from sqlalchemy import create_engine, func, select
from sqlalchemy.pool import NullPool

from conftest import at_once, committed
from gongwen_common import migrate
from gongwen_common.db import Session
from gongwen_common.errors import DomainError
from gongwen_seal.domain import custody, sealing, seals
from gongwen_seal.domain.settings import SealSettings
from gongwen_seal.models import PrintStamp, SealUse, UnitView, UseApproval

from .conftest import KEK, OPERATOR, document, person

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SETTINGS = SealSettings.from_config({"SEAL_KEK": KEK})
KEEPERS = ["keeper-li", "keeper-wang"]


def seal_database(postgres):
    name = f"seal_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    url = postgres.url(name)
    migrate.upgrade("gongwen_seal", url)
    return create_engine(url, poolclass=NullPool, pool_pre_ping=False)


def active_seal(engine, required):
    with Session(engine) as session:
        session.add(UnitView(code="gz-fgw", name="广州市发展和改革委员会", status="active", version=1, revision=1,
                             updated_at=NOW))
        session.flush()
        applied = seals.apply(session, "gz-fgw", {"required_approvals": required, "custodian_user_ids": KEEPERS},
                              person("admin-gz-fgw", "gz-fgw", "admin"), NOW,
                              active_members=lambda unit_code, user_ids: list(user_ids))
        serial = seals.approve(session, applied["serial"], OPERATOR, SETTINGS, NOW)["serial"]
        session.commit()
    return serial


def together(engine, work, n=2):
    """``work(session)`` in ``n`` sessions released at one barrier; each commits its own."""
    answers = at_once([committed(engine, work) for _ in range(n)], timeout=60)
    failures = [a for a in answers if isinstance(a, Exception)]
    assert failures == [], failures
    return answers


def test_concurrent_first_seal_signs_of_one_request_make_one_use_and_answer_one_signature(postgres):
    engine = seal_database(postgres)
    serial = active_seal(engine, required=2)
    manifest = document("gz-fgw")
    digest = hashlib.sha256(manifest).hexdigest()
    with Session(engine) as session:
        approvals = [custody.approve_use(session, serial, digest, person(k, "gz-fgw", "custodian"),
                                         SETTINGS.approval_window, NOW)["approval_id"] for k in KEEPERS]
        session.commit()
    clerk = person("clerk-gz-fgw", "gz-fgw", "clerk")

    answers = together(engine, lambda session: sealing.sign(session, "gz-fgw", manifest, clerk, approvals,
                                                              SETTINGS, NOW), n=4)
    assert all(answer == answers[0] for answer in answers)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(SealUse)) == 1
        assert session.scalar(select(func.count()).select_from(UseApproval).where(UseApproval.used_at.is_(None))) == 0
        stored = session.scalar(select(SealUse.signature))
    assert base64.b64decode(answers[0]["signature"]) == stored
    engine.dispose()


def test_concurrent_first_stamps_with_one_key_make_one_stamp(postgres):
    engine = seal_database(postgres)
    active_seal(engine, required=1)
    manifest = document("gz-fgw")
    with Session(engine) as session:
        signature = sealing.sign(session, "gz-fgw", manifest, person("clerk-gz-fgw", "gz-fgw", "clerk"), None,
                                 SETTINGS, NOW)["signature"]
        session.commit()
    printer = person("clerk-gz-cz", "gz-cz", "clerk")

    def stamp(session):
        return sealing.verify_for_print(session, manifest, base64.b64decode(signature), printer, SETTINGS, NOW,
                                        stamp_key="print-7f3a")

    answers = together(engine, stamp, n=4)
    assert all(answer["valid"] and answer["stamp"] == answers[0]["stamp"] for answer in answers)
    with Session(engine) as session:
        assert session.scalars(select(PrintStamp.print_serial)).all() == [answers[0]["stamp"]["print_serial"]]
    engine.dispose()


def test_refusals_stay_domain_errors_under_concurrency(postgres):
    """A request the custodians never approved is refused to every concurrent caller alike."""
    engine = seal_database(postgres)
    active_seal(engine, required=2)
    manifest = document("gz-fgw", title="无人批准")
    clerk = person("clerk-gz-fgw", "gz-fgw", "clerk")
    codes = []

    def attempt(session):
        try:
            sealing.sign(session, "gz-fgw", manifest, clerk, None, SETTINGS, NOW)
        except DomainError as exc:
            codes.append(exc.code)

    together(engine, attempt, n=3)
    assert codes == ["CUSTODY_APPROVAL_REQUIRED"] * 3
    engine.dispose()
