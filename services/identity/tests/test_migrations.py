"""The migrations build exactly the schema the models describe (SQLite here; PostgreSQL in the stack)."""
from alembic import command
from sqlalchemy import create_engine, inspect

from gongwen_common import migrate
from gongwen_common.tables import InfraBase
from gongwen_identity.models import Base


def test_migrations_match_the_models_and_go_down_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'identity.sqlite3'}"
    assert migrate.differences_from_models("gongwen_identity", Base.metadata, url) == []
    engine = create_engine(url)
    indexes = {i["name"]: i for i in inspect(engine).get_indexes("device_keys")}
    assert indexes["uq_device_keys_active_user"]["unique"]

    command.downgrade(migrate.alembic_config("gongwen_identity", url), "0001")
    assert set(inspect(engine).get_table_names()) == {*InfraBase.metadata.tables, "unit_views", "alembic_version"}
    engine.dispose()
