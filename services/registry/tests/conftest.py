"""The registry's worker on an in-memory SQLite database (nameko's worker_factory, no broker)."""
from datetime import UTC, datetime

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import func, select

from gongwen_common.clock import MovableClock
from gongwen_common.errors import DomainError
from gongwen_common.tables import IdempotencyRecord, OutboxEvent
from gongwen_registry.models import Base, ContactChange, Unit, UnitMerge, UnitName
from gongwen_registry.service import RegistryService


class _Reply:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


class Identity:
    """identity as the registry asks it (``members_with_mobiles``): ``people`` maps each user id
    to ``(unit_code, mobile)``; every one of them is active."""

    def __init__(self):
        self.people = {}

    @property
    def members_with_mobiles(self):
        people = self.people

        class Method:
            @staticmethod
            def call_async(unit_code, user_ids):
                return _Reply({u: bool(people[u][1]) for u in user_ids if u in people and people[u][0] == unit_code})
        return Method


class Registry:
    """The service as its callers see it, plus what it wrote, for the assertions."""

    operator = {"user_id": "op-1", "roles": ["operator"]}

    def __init__(self, session):
        self.session = session
        self.clock = MovableClock(datetime(2026, 11, 21, 9, tzinfo=UTC))
        self.identity = Identity()
        self.service = worker_factory(RegistryService, db=session, clock=self.clock, identity=self.identity)

    def people(self, unit_code, *user_ids, mobile="+8613800138000"):
        """Active users of ``unit_code`` as identity knows them (with a mobile unless ``mobile=None``)."""
        for user_id in user_ids:
            self.identity.people[user_id] = (unit_code, mobile)

    def unit(self, code, status="active", parent_code=None):
        """A unit brought to ``status`` through the service itself."""
        application = {"code": code, "name": f"单位{code}", "kind": "department", "parent_code": parent_code}
        view = self.service.register_unit(application, actor=self.operator, active=status != "applied")
        if status == "revoked":
            view = self.service.revoke_unit(code, {"reason": "撤销", "documents": "archive"}, actor=self.operator)
        return view

    def events(self, *types):
        """``(event_type, data)`` of the outbox rows, oldest first, optionally of some types only."""
        rows = self.session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
        return [(row.event_type, row.payload["data"]) for row in rows if not types or row.event_type in types]

    def row(self, code) -> Unit:
        return self.session.get(Unit, code)

    def snapshot(self):
        """Everything a refused call must leave as it was."""
        units = [self.service.get_unit(code) for code in self.session.scalars(select(Unit.code).order_by(Unit.code))]
        counts = [self.session.scalar(select(func.count()).select_from(table))
                  for table in (OutboxEvent, UnitName, ContactChange, UnitMerge, IdempotencyRecord)]
        return units, counts

    def refuses(self, code, status, call, *args, **kwargs) -> DomainError:
        """Call, expect the refusal ``code``/``status``, and check that nothing was written."""
        before = self.snapshot()
        with pytest.raises(DomainError) as refused:
            call(*args, **kwargs)
        assert (refused.value.code, refused.value.status) == (code, status), refused.value
        assert self.snapshot() == before
        return refused.value


@pytest.fixture
def registry(sqlite_session):
    return Registry(sqlite_session(Base))
