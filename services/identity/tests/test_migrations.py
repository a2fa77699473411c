"""The migrations build exactly the schema the models describe (SQLite here; PostgreSQL in the stack)."""
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, create_engine, inspect

from gongwen_common import migrate
from gongwen_common.tables import InfraBase
from gongwen_identity.models import Base


def test_migrations_match_the_models_and_go_down_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'identity.sqlite3'}"
    migrate.upgrade("gongwen_identity", url)
    engine = create_engine(url)
    expected = MetaData()
    for table in (*Base.metadata.tables.values(), *InfraBase.metadata.tables.values()):
        table.to_metadata(expected)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), expected) == []
    indexes = {i["name"]: i for i in inspect(engine).get_indexes("device_keys")}
    assert indexes["uq_device_keys_active_user"]["unique"]

    command.downgrade(migrate.alembic_config("gongwen_identity", url), "0001")
    assert set(inspect(engine).get_table_names()) == {*InfraBase.metadata.tables, "unit_views", "alembic_version"}
    engine.dispose()
