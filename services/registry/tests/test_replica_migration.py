"""The ``unit_views`` table of every consumer is built by one helper, the same as its columns declare."""
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import create_engine, inspect
from sqlalchemy.orm import DeclarativeBase

from gongwen_contracts.registry.replica import UnitViewColumns, create_unit_views


class Base(DeclarativeBase):
    pass


class UnitView(UnitViewColumns, Base):
    pass


def columns(engine):
    return [(c["name"], str(c["type"]), c["nullable"], c["primary_key"])
            for c in inspect(engine).get_columns("unit_views")]


def test_create_unit_views_builds_the_table_the_replica_columns_declare():
    declared, migrated = create_engine("sqlite://"), create_engine("sqlite://")
    Base.metadata.create_all(declared)
    with migrated.begin() as connection:
        create_unit_views(Operations(MigrationContext.configure(connection)))
    assert columns(migrated) == columns(declared)


def test_a_column_a_released_revision_added_later_can_be_left_out():
    engine = create_engine("sqlite://")
    with engine.begin() as connection:
        create_unit_views(Operations(MigrationContext.configure(connection)), without=("version",))
    assert [name for name, *_ in columns(engine)] == ["code", "name", "status", "revision", "updated_at"]
