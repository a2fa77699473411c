"""The seal service's key-encryption key is required (issue 9, item 5): unset, the service
refuses to start and says which setting; only an explicit development flag lets a fixed
development key stand in, with a warning."""
import logging

import pytest
from nameko.containers import ServiceContainer

from gongwen_common import keywrap
from gongwen_common.keywrap import KeyUnavailable
from gongwen_common.service import CheckedAtStart
from gongwen_seal.domain.settings import SealSettings
from gongwen_seal.models import Base
from gongwen_seal.service import SealService

from .conftest import KEK, SealWorld

UNSET = {"DATABASE_URL": "sqlite://", "AMQP_URI": "memory://", "SEAL_KEK": ""}


def test_without_seal_kek_the_service_refuses_to_start_and_names_the_setting(monkeypatch):
    monkeypatch.delenv(keywrap.DEVELOPMENT_FLAG, raising=False)
    container = ServiceContainer(SealService, UNSET)
    with pytest.raises(KeyUnavailable, match=r"SEAL_KEK is not set.*GONGWEN_DEVELOPMENT_KEYS=1"):
        container.start()
    container.kill()
    with pytest.raises(KeyUnavailable, match="SEAL_KEK must be base64 of exactly 32 bytes"):
        SealSettings.from_config({"SEAL_KEK": "c2hvcnQ="})


def check_at_start(config):
    """The start-up check of a container with ``config`` (the container kept alive while it runs)."""
    container = ServiceContainer(SealService, config)
    [check] = [d for d in container.dependencies if isinstance(d, CheckedAtStart)]
    check.setup()


def test_with_the_development_flag_the_seal_service_works_and_warns(monkeypatch, caplog, sqlite_session):
    monkeypatch.setattr(keywrap, "_warned_purposes", set())
    monkeypatch.setenv(keywrap.DEVELOPMENT_FLAG, "1")
    with caplog.at_level(logging.WARNING, logger=keywrap.__name__):
        check_at_start(UNSET)
        seals = SealWorld(sqlite_session(Base), config={"SEAL_KEK": None})
        seals.active_seal("gz-fgw")
        sealed = seals.sign("gz-fgw", seals.document("gz-fgw"))
    assert seals.verify(seals.document("gz-fgw"), sealed["signature"])["valid"]
    assert [r.getMessage() for r in caplog.records if "SEAL_KEK is not set" in r.getMessage()]


def test_with_seal_kek_set_the_service_starts_without_the_flag(monkeypatch):
    monkeypatch.delenv(keywrap.DEVELOPMENT_FLAG, raising=False)
    check_at_start({**UNSET, "SEAL_KEK": KEK})
    assert SealSettings.from_config({"SEAL_KEK": KEK}).kek.kek_id
