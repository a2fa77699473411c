"""The registry's events are what its contract (``gongwen_contracts.registry.events``) says:
each one a unit's life emits loads with the schema of its type (worker level, no broker)."""
import pytest
from marshmallow import ValidationError

from gongwen_contracts.events import event_types, load_event_data

CONTACTS = {"admin_user_id": "u-1", "clerk_user_ids": ["u-2"], "leader_user_id": "u-3", "sms_enabled": False}


def test_every_event_of_a_units_life_loads_with_its_contract_schema(registry):
    registry.unit("aa", status="applied")
    registry.service.approve_unit("aa", actor=registry.operator)
    registry.service.rename_unit("aa", {"name": "新名称"}, actor=registry.operator)
    registry.people("aa", "u-1", "u-2", "u-3")
    registry.service.set_contacts("aa", CONTACTS, actor=registry.operator)
    registry.unit("bb")
    registry.service.merge_units({"from_codes": ["aa", "bb"], "new": {"code": "cc", "name": "合并后的单位",
                                                                      "kind": "department"}},
                                 actor=registry.operator)
    events = registry.events()
    assert {event_type for event_type, _ in events} == set(event_types("registry"))
    for event_type, data in events:
        loaded = load_event_data("registry", event_type, data)
        assert loaded.get("code", loaded.get("unit", {}).get("code")) in ("aa", "bb", "cc")
    renamed = next(data for event_type, data in events if event_type == "unit_renamed")
    with pytest.raises(ValidationError):  # what a consumer relies on is required
        load_event_data("registry", "unit_renamed", {k: v for k, v in renamed.items() if k != "new_name"})
