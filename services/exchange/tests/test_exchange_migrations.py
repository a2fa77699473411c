"""The exchange migrations build exactly the schema the models describe, and go down again."""
from alembic import command
from sqlalchemy import create_engine, inspect

from gongwen_common import migrate
from gongwen_common.tables import InfraBase
from gongwen_exchange.models import Base


def test_exchange_migrations_match_the_models_and_go_down_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'exchange.sqlite3'}"
    assert migrate.differences_from_models("gongwen_exchange", Base.metadata, url) == []
    command.downgrade(migrate.alembic_config("gongwen_exchange", url), "0001")
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) == {*InfraBase.metadata.tables, "unit_views", "alembic_version"}
    engine.dispose()
