"""``insert_new_rows``: many claims in one statement per 500 rows, on SQLite and PostgreSQL, with
``insert_new``'s meaning row by row (a key already held is not inserted, and on PostgreSQL a key
another transaction is inserting waits for it)."""
import uuid

import eventlet
import pytest
from sqlalchemy import String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from gongwen_common import db


class Base(DeclarativeBase):
    pass


class Claim(Base):
    __tablename__ = "claims"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    note: Mapped[str] = mapped_column(String(40))


class PairClaim(Base):
    __tablename__ = "pair_claims"
    left: Mapped[str] = mapped_column(String(40), primary_key=True)
    right: Mapped[str] = mapped_column(String(40), primary_key=True)


def _postgres_url(postgres):
    name = f"rows_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    return postgres.url(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    url = f"sqlite:///{tmp_path}/claims.sqlite3" if request.param == "sqlite" \
        else _postgres_url(request.getfixturevalue("postgres"))
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def test_only_the_new_keys_are_inserted_and_returned(engine):
    with Session(engine) as session, session.begin():
        assert db.insert_new_rows(session, Claim, [{"key": "a", "note": "1"}, {"key": "b", "note": "1"},
                                                   {"key": "a", "note": "again in the batch"}]) == {"a", "b"}
    with Session(engine) as session, session.begin():
        assert db.insert_new_rows(session, Claim, [{"key": "b", "note": "2"}, {"key": "c", "note": "2"}]) == {"c"}
        assert db.insert_new_rows(session, Claim, []) == set()
    with Session(engine) as session:
        assert dict(session.execute(select(Claim.key, Claim.note)).all()) == {"a": "1", "b": "1", "c": "2"}


def test_a_composite_key_is_returned_as_tuples_across_several_statements(engine):
    rows = [{"left": "doc", "right": f"unit-{n}"} for n in range(2 * db.ROWS_PER_INSERT + 1)]
    with Session(engine) as session, session.begin():
        assert db.insert_new_rows(session, PairClaim, rows[:7]) == {("doc", f"unit-{n}") for n in range(7)}
        assert db.insert_new_rows(session, PairClaim, rows) == {("doc", f"unit-{n}") for n in range(7, len(rows))}
    with Session(engine) as session:
        assert session.scalar(select(PairClaim).where(PairClaim.right == "unit-1000")) is not None


def test_on_postgresql_a_key_being_inserted_elsewhere_waits_for_that_transaction(postgres):
    engine = create_engine(_postgres_url(postgres))
    Base.metadata.create_all(engine)
    first = Session(engine)
    first.begin()
    db.insert_new_rows(first, Claim, [{"key": "x", "note": "first"}])
    with Session(engine) as second, second.begin():
        waiting = eventlet.spawn(db.insert_new_rows, second, Claim, [{"key": "x", "note": "second"},
                                                                     {"key": "y", "note": "second"}])
        eventlet.sleep(0.3)
        assert not waiting.dead  # held by the first transaction's key
        first.commit()
        first.close()
        assert waiting.wait() == {"y"}
    engine.dispose()
