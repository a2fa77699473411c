"""The inbox's query walks an index in the inbox's own order (issue 15): no sort of every receipt the
unit ever had on each poll, however many it has."""
from datetime import UTC, datetime

from sqlalchemy import event, text

from gongwen_exchange.domain import receiving
from gongwen_exchange.models import Base


def inbox_plan(session, **filters) -> str:
    """SQLite's plan for the inbox query as ``receiving.inbox`` sends it."""
    sent = []
    engine = session.get_bind()

    def capture(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        receiving.inbox(session, {"user_id": "u1", "unit_code": "gz-fgw", "roles": ["clerk"]}, filters.get("state"),
                        filters.get("urgency"), None, 50, None, datetime(2026, 11, 20, tzinfo=UTC))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    [(statement, parameters)] = [s for s in sent if "FROM receipts" in s[0]]
    rows = session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    return " | ".join(row[-1] for row in rows)


def test_the_inbox_reads_a_units_receipts_newest_first_from_its_index_without_sorting(sqlite_session):
    session = sqlite_session(Base)
    for filters in ({}, {"state": "delivered"}, {"urgency": "urgent"}):
        plan = inbox_plan(session, **filters)
        assert "ix_receipts_inbox" in plan and "TEMP B-TREE" not in plan, (filters, plan)
    assert session.execute(text("SELECT count(*) FROM receipts")).scalar() == 0


def test_a_poll_of_the_inbox_is_one_query_however_many_documents_it_lists(exchange):
    exchange.units("gz-fgw", "a1", "a2", "a3", "c1", "c2", sealed=["gz-fgw"])
    for n in range(3):
        exchange.send(doc_number=f"穗发改〔2026〕{n}号")
    engine, sent = exchange.session.get_bind(), []

    def capture(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", capture)
    try:
        listed = exchange.call("inbox", exchange.clerk("a1"))["items"]
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert len(listed) == 3 and all(item["document"]["title"] for item in listed)
    assert len([s for s in sent if s.lstrip().upper().startswith("SELECT")]) == 1, sent
