"""Registry rules through its worker (nameko's worker_factory, SQLite, no broker)."""
import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select

from gongwen_common.errors import DomainError
from gongwen_common.tables import OutboxEvent
from gongwen_registry.models import Base
from gongwen_registry.service import RegistryService


@pytest.fixture
def registry(sqlite_session):
    session = sqlite_session(Base)
    return worker_factory(RegistryService, db=session), session


def test_register_unit_stores_an_application_and_emits_unit_registered(registry):
    service, session = registry
    unit = service.register_unit({"code": "gz-fgw", "name": "广州市发改委", "kind": "department"})
    assert unit["status"] == "applied" and unit["former_names"] == []
    [event] = session.scalars(select(OutboxEvent)).all()
    assert event.event_type == "unit_registered" and event.payload["data"]["code"] == "gz-fgw"


@pytest.mark.parametrize("application, code", [
    ({"code": "a1", "name": "某单位", "kind": "department", "parent_code": "nowhere"}, "UNKNOWN_PARENT_UNIT"),
    ({"code": "a1", "name": "某单位"}, "VALIDATION_ERROR"),
    ({"code": "bad code!", "name": "某单位", "kind": "department"}, "VALIDATION_ERROR"),
])
def test_invalid_applications_are_refused_with_a_stable_code(registry, application, code):
    service, session = registry
    with pytest.raises(DomainError) as refused:
        service.register_unit(application)
    assert refused.value.code == code
    assert session.scalars(select(OutboxEvent)).all() == []


def test_a_unit_code_is_registered_once(registry):
    service, _ = registry
    service.register_unit({"code": "gz-fgw", "name": "广州市发改委", "kind": "department"})
    with pytest.raises(DomainError) as refused:
        service.register_unit({"code": "gz-fgw", "name": "另一个", "kind": "department"})
    assert refused.value.code == "UNIT_CODE_TAKEN" and refused.value.status == 409


def test_directory_pages_by_code(registry):
    service, _ = registry
    for code in ("c", "a", "b"):
        service.register_unit({"code": f"{code}1", "name": f"单位{code}", "kind": "department"})
    first = service.list_units(limit=2)
    assert [u["code"] for u in first["items"]] == ["a1", "b1"]
    assert [u["code"] for u in service.list_units(limit=2, cursor=first["next_cursor"])["items"]] == ["c1"]
