"""Every service's migrations build exactly the schema its models describe, and go all the way
down again (SQLite here; the stack runs them on PostgreSQL)."""
import importlib

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from gongwen_common import migrate
from gongwen_local.stack import SERVICES


@pytest.mark.parametrize("service", [s for s in SERVICES if s != "gateway"])
def test_migrations_match_the_models_and_go_down_again(service, tmp_path):
    package = f"gongwen_{service}"
    models = importlib.import_module(f"{package}.models")
    url = f"sqlite:///{tmp_path / service}.sqlite3"
    assert migrate.differences_from_models(package, models.Base.metadata, url) == []
    command.downgrade(migrate.alembic_config(package, url), "base")
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()


@pytest.mark.parametrize("service", [s for s in SERVICES if s != "gateway"])
def test_a_database_from_before_outbox_claims_gains_them_on_upgrade(service, tmp_path):
    """Databases made before the relay's claims existed get the columns from the outbox-claims revision."""
    package = f"gongwen_{service}"
    models = importlib.import_module(f"{package}.models")
    url = f"sqlite:///{tmp_path / service}.sqlite3"
    config = migrate.alembic_config(package, url)
    claims = next(r for r in ScriptDirectory.from_config(config).walk_revisions() if "outbox claims" in (r.doc or ""))
    migrate.upgrade(package, url)
    command.downgrade(config, claims.down_revision)  # as such a database looked
    engine = create_engine(url)
    assert "claimed_by" not in {c["name"] for c in inspect(engine).get_columns("outbox_events")}
    engine.dispose()
    assert migrate.differences_from_models(package, models.Base.metadata, url) == []
