"""Registering units (申请, or directly by the operator) and who did it."""
import pytest

APPLICATION = {"code": "gz-fgw", "name": "广州市发改委", "kind": "department"}


def test_register_unit_stores_an_application_and_emits_the_bare_unit_view(registry):
    unit = registry.service.register_unit(APPLICATION)
    assert unit["status"] == "applied" and unit["former_names"] == [] and unit["revocation"] is None
    assert unit["sms_enabled"] is False
    assert unit["contacts"] == {"admin_user_id": None, "clerk_user_ids": [], "leader_user_id": None,
                                "deputy_leader_user_id": None}
    # Other services read unit_registered's data as the unit itself.
    assert registry.events() == [("unit_registered", unit)]
    assert registry.row("gz-fgw").registered_by == "system"


def test_an_operator_registers_an_active_unit_at_once(registry):
    unit = registry.service.register_unit(APPLICATION, actor=registry.operator, active=True)
    assert unit["status"] == "active"
    assert registry.events() == [("unit_registered", unit)]
    row = registry.row("gz-fgw")
    assert (row.registered_by, row.approved_by) == ("op-1", "op-1") and row.approved_at is not None


@pytest.mark.parametrize("application, code, status", [
    ({**APPLICATION, "parent_code": "nowhere"}, "UNKNOWN_PARENT_UNIT", 422),
    ({"code": "a1", "name": "某单位"}, "VALIDATION_ERROR", 400),
    ({**APPLICATION, "code": "bad code!"}, "VALIDATION_ERROR", 400),
])
def test_invalid_applications_are_refused_with_a_stable_code(registry, application, code, status):
    registry.refuses(code, status, registry.service.register_unit, application)


def test_an_actor_without_a_user_id_is_refused(registry):
    refused = registry.refuses("VALIDATION_ERROR", 400, registry.service.register_unit, APPLICATION,
                               actor={"roles": ["operator"]})
    assert "actor" in refused.fields


def test_a_unit_code_is_registered_once(registry):
    registry.service.register_unit(APPLICATION)
    registry.refuses("UNIT_CODE_TAKEN", 409, registry.service.register_unit, {**APPLICATION, "name": "另一个"})


def test_a_repeated_registration_with_the_same_key_answers_the_first_result(registry):
    first = registry.service.register_unit(APPLICATION, idempotency_key="k-1")
    assert registry.service.register_unit(APPLICATION, idempotency_key="k-1") == first
    assert len(registry.events()) == 1
    registry.refuses("IDEMPOTENCY_KEY_REUSED", 409, registry.service.register_unit, APPLICATION,
                     idempotency_key="k-1", active=True)
