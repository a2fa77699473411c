"""Search in the archive worker (SQLite): Chinese substrings of titles, numbers, signers and unit
names; dates in Asia/Shanghai; pages; and only the documents the caller's unit sent or received."""
import uuid
from datetime import UTC, datetime

import pytest

from gongwen_archive.models import Base, UnitView

from .test_ledger import OPERATOR, Archive, envelope


def clerk(unit):
    return {"user_id": f"clerk-{unit}", "unit_code": unit, "roles": ["clerk"]}


@pytest.fixture
def archive(sqlite_session):
    archive = Archive(sqlite_session(Base))
    for code, name in (("gz-a", "广州市应急管理局"), ("gz-b", "广州市教育局"), ("gz-c", "广州市卫生健康委员会")):
        archive.session.add(UnitView(code=code, name=name, status="active", version=1, revision=1,
                                     updated_at=archive.clock()))
    archive.session.commit()
    return archive


def sent(archive, title, issuer="gz-a", to=("gz-b",), signer="王五", at="2026-12-01T02:00:00+00:00", **extra):
    document_id = str(uuid.uuid4())
    archive.take("exchange", envelope("document_sent", {
        "id": document_id, "issuer_code": issuer, "doc_number": f"穗应急〔2026〕{len(title)}号", "title": title,
        "urgency": "urgent", "signer": signer, "sent_at": at, "status": "sent",
        "receipts": [{"unit_code": code} for code in to], **extra}, occurred_at=at))
    return document_id


def found(archive, actor, **query):
    return [item["document_id"] for item in archive.call("search_documents", actor, **query)["items"]]


def test_a_chinese_word_finds_the_titles_that_hold_it(archive):
    notice = sent(archive, "关于开展冬季安全生产大检查的紧急通知")
    report = sent(archive, "关于报送年度工作总结的函")
    assert found(archive, OPERATOR, q="通知") == [notice]
    assert found(archive, OPERATOR, q="安全生产") == [notice]
    assert found(archive, OPERATOR, q="的") == [report, notice] or set(found(archive, OPERATOR, q="的")) == {
        notice, report}


def test_numbers_signers_and_unit_names_are_found_too(archive):
    document = sent(archive, "关于防汛的通知", signer="赵六", to=("gz-c",))
    assert found(archive, OPERATOR, q="穗应急") == [document]
    assert found(archive, OPERATOR, q="赵六") == [document]
    assert found(archive, OPERATOR, q="卫生健康") == [document]
    assert found(archive, OPERATOR, q="GZ-C") == [document]


def test_a_unit_finds_only_what_it_sent_or_received(archive):
    to_b = sent(archive, "给教育局的通知", to=("gz-b",))
    to_c = sent(archive, "给卫健委的通知", to=("gz-c",))
    assert found(archive, clerk("gz-b"), q="通知") == [to_b]
    assert set(found(archive, clerk("gz-a"), q="通知")) == {to_b, to_c}
    assert found(archive, clerk("gz-b"), unit="gz-c") == []
    assert found(archive, {"user_id": "x", "roles": ["clerk"]}, q="通知") == []


def test_a_resend_adds_the_units_it_reached(archive):
    document = sent(archive, "关于补发的通知", to=("gz-b",))
    archive.take("exchange", envelope("document_sent", {
        "id": document, "issuer_code": "gz-a", "doc_number": "x", "title": "关于补发的通知", "urgency": "urgent",
        "sent_at": "2026-12-01T02:00:00+00:00", "status": "sent", "resend": True, "receipts": [{"unit_code": "gz-c"}]}))
    assert found(archive, clerk("gz-c"), q="补发") == [document]


def test_dates_are_the_citys_days_and_pages_follow_each_other(archive):
    # 2026-12-01 23:30 in Shanghai is 15:30 UTC the same day; 2026-12-02 00:30 there is 16:30 UTC on the 1st.
    late = sent(archive, "深夜的通知", at="2026-12-01T15:30:00+00:00")
    next_day = sent(archive, "次日的通知", at="2026-12-01T16:30:00+00:00")
    day = datetime(2026, 12, 1, tzinfo=UTC).date()
    assert found(archive, OPERATOR, start=day.isoformat(), end=day.isoformat()) == [late]
    assert found(archive, OPERATOR, start="2026-12-02") == [next_day]
    first = archive.call("search_documents", OPERATOR, limit=1)
    second = archive.call("search_documents", OPERATOR, limit=1, cursor=first["next_cursor"])
    assert [first["items"][0]["document_id"], second["items"][0]["document_id"]] == [next_day, late]
    assert second["next_cursor"] is None


def test_a_forged_cursor_or_a_like_wildcard_is_no_trick(archive):
    sent(archive, "关于通知的通知")
    assert archive.refused("search_documents", OPERATOR, cursor="not-a-cursor").code == "NOT_FOUND"
    assert found(archive, OPERATOR, cursor="") != []  # an empty cursor is the first page
    assert found(archive, OPERATOR, q="%") == [] and found(archive, OPERATOR, q="_") == []
