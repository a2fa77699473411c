"""A unit's SMS bill for a month (000 §11: each unit pays its own): its own admin or leader, or the
operator; months in Asia/Shanghai; pages by cursor; bad months and cursors refused, never a 5xx."""
from datetime import UTC, datetime

import pytest

from gongwen_common.errors import NotFound, ValidationFailed
from gongwen_notify.delivery import queue_message
from gongwen_notify.delivery.costs import unit_month
from gongwen_notify.models import Base, UnitView

OPERATOR = {"user_id": "op", "unit_code": "operator", "roles": ["operator"]}
ADMIN = {"user_id": "a1", "unit_code": "gz-fgw", "roles": ["admin"]}


@pytest.fixture
def session(sqlite_session):
    session = sqlite_session(Base)
    for code in ("gz-fgw", "gz-cz"):
        session.add(UnitView(code=code, name=code, status="active", version=1, revision=1,
                             updated_at=datetime(2026, 11, 1, tzinfo=UTC)))
    # 1 Dec 2026 00:30 in Shanghai is still 30 November in UTC: the bill is Shanghai's December
    for n, at in enumerate([datetime(2026, 11, 30, 16, 30, tzinfo=UTC), datetime(2026, 12, 5, 2, tzinfo=UTC),
                            datetime(2026, 12, 31, 17, tzinfo=UTC)]):
        message = queue_message(session, channel="sms", to="+8613800138000", body=f"n{n}", unit_code="gz-fgw", now=at)
        message.provider_sid, message.status, message.segments = f"SM{n}", "delivered", 2
        message.price, message.price_unit = "-0.11700", "USD"
    session.commit()
    return session


def test_the_bill_counts_shanghais_month_and_pages_by_cursor(session):
    first = unit_month(session, "gz-fgw", "2026-12", ADMIN, limit=1)
    assert (first["messages"], first["segments"], first["calls"], first["price"], first["price_unit"]) == \
        (2, 4, 0, "-0.23400", "USD")
    second = unit_month(session, "gz-fgw", "2026-12", ADMIN, limit=1, cursor=first["next_cursor"])
    assert [i["to"] for i in first["items"] + second["items"]] == ["+86 138****8000"] * 2
    assert second["next_cursor"] is None and first["items"][0]["id"] != second["items"][0]["id"]
    assert unit_month(session, "gz-fgw", "2027-01", OPERATOR)["messages"] == 1


def test_another_unit_or_an_unknown_unit_is_not_found(session):
    with pytest.raises(NotFound):
        unit_month(session, "gz-cz", "2026-12", ADMIN)
    with pytest.raises(NotFound):
        unit_month(session, "no-such-unit", "2026-12", OPERATOR)
    with pytest.raises(NotFound):
        unit_month(session, "gz-fgw", "2026-12", {**ADMIN, "roles": ["staff"]})


@pytest.mark.parametrize("month", ["0000-01", "2026-13", "26-12", "9999-12", ""])
def test_a_month_outside_the_bills_is_a_validation_error(session, month):
    with pytest.raises(ValidationFailed):
        unit_month(session, "gz-fgw", month, OPERATOR)


@pytest.mark.parametrize("cursor", ["0" * 99, "bm90IGEgY3Vyc29y", "MjAyNi0xMi0wNVQwMjowMDowMHxhYmM="])
def test_a_cursor_this_listing_never_gave_is_not_found(session, cursor):
    with pytest.raises(NotFound):
        unit_month(session, "gz-fgw", "2026-12", OPERATOR, cursor=cursor)
