"""Migrations run at start behind a lock (``gongwen_common.migrate.migration_lock``): several
instances starting at once on an empty database all start, and each revision runs once."""
import re
import subprocess
import sys
import uuid

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from gongwen_common import migrate
from gongwen_exchange.models import Base
from gongwen_local.stack import ROOT

PACKAGE, INSTANCES = "gongwen_exchange", 4


def start_at_once(url) -> list:
    """``INSTANCES`` processes migrating as the image's entrypoint does, started together."""
    processes = [subprocess.Popen([sys.executable, "-m", "gongwen_common.migrate", PACKAGE, "--url", url], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(INSTANCES)]
    return [(process.wait(120), process.communicate()[0]) for process in processes]


def revisions() -> list:
    script = ScriptDirectory.from_config(migrate.alembic_config(PACKAGE, "sqlite://"))
    return [revision.revision for revision in script.walk_revisions()]


def assert_each_revision_ran_once(url, outcomes):
    assert [code for code, _ in outcomes] == [0] * INSTANCES, [log for _, log in outcomes]
    ran = re.findall(r"Running upgrade \S* -> ([^\s,]+)", "".join(log for _, log in outcomes))
    assert sorted(ran) == sorted(revisions())  # every revision, each once, by one of the instances
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == \
            [revisions()[0]]
    engine.dispose()
    assert migrate.differences_from_models(PACKAGE, Base.metadata, url) == []


def test_instances_starting_at_once_on_an_empty_postgresql_database_migrate_it_once(postgres):
    name = f"migrate_lock_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    url = postgres.url(name)
    assert_each_revision_ran_once(url, start_at_once(url))


def test_instances_starting_at_once_on_a_new_sqlite_file_migrate_it_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'db' / 'exchange.sqlite3'}"
    assert_each_revision_ran_once(url, start_at_once(url))


@pytest.mark.parametrize("other", ["gongwen_registry", "gongwen_exchange"])
def test_the_lock_is_per_service(other):
    assert (migrate.lock_key(PACKAGE) == migrate.lock_key(other)) == (other == PACKAGE)
