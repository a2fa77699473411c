"""What the generic migrations test (tests/test_service_migrations.py) cannot know about identity."""
from sqlalchemy import create_engine, inspect

from gongwen_common import migrate


def test_one_active_device_key_per_user_is_a_unique_index(tmp_path):
    url = f"sqlite:///{tmp_path / 'identity.sqlite3'}"
    migrate.upgrade("gongwen_identity", url)
    engine = create_engine(url)
    indexes = {i["name"]: i for i in inspect(engine).get_indexes("device_keys")}
    assert indexes["uq_device_keys_active_user"]["unique"]
    engine.dispose()
