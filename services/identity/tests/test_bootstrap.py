"""The first operator, made from the command line before any unit exists."""
from datetime import UTC, datetime

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select

from gongwen_common.errors import DomainError
from gongwen_identity.models import Base, User
from gongwen_identity.service import IdentityService


def test_bootstrap_creates_one_active_operator_and_only_once(sqlite_session, world):
    session = sqlite_session(Base)  # empty: no unit, no user
    service = worker_factory(IdentityService, db=session, config={}, clock=lambda: datetime(2026, 11, 21, tzinfo=UTC))
    key = world.new_key()
    operator = service.bootstrap_operator("Chief.Op", "Harbour#2026sky", world.public_pem(key))
    assert {k: operator[k] for k in ("username", "unit_code", "roles", "status", "must_change_password")} == {
        "username": "chief.op", "unit_code": "operator", "roles": ["operator"], "status": "active",
        "must_change_password": False}
    session.commit()

    for args in (("second.op", "Harbour#2026sea", world.public_pem(world.new_key())),
                 ("chief.op", "Harbour#2026sky", world.public_pem(key))):
        with pytest.raises(DomainError) as refusal:
            service.bootstrap_operator(*args)
        assert (refusal.value.code, refusal.value.status) == ("ALREADY_BOOTSTRAPPED", 409)
        session.rollback()
    assert [u.username for u in session.scalars(select(User))] == ["chief.op"]


def test_the_bootstrapped_operator_logs_in_without_a_forced_change(world):
    # The cast's operator was bootstrapped; its password was its own choice.
    result = world.login("operator")
    assert result["must_change_password"] is False
    assert world.refused("bootstrap_operator", "late.op", "Harbour#2026sea",
                         world.public_pem(world.new_key())).code == "ALREADY_BOOTSTRAPPED"
