"""Merging units (合并, 003 §10(三)): into a kept unit or into a new one."""
import pytest
from sqlalchemy import select

from gongwen_registry.models import UnitMerge

NEW = {"code": "cc", "name": "合并后的新单位", "kind": "department"}


@pytest.fixture
def units(registry):
    for code, status in (("aa", "active"), ("bb", "active"), ("gone", "revoked"), ("pending", "applied")):
        registry.unit(code, status=status)
    return registry


def merge_revocations(registry):
    """What each unit_revoked event after the set-up says: code → (documents, successor, revoked_by)."""
    revoked = {}
    for _, data in registry.events("unit_revoked"):
        unit = data["unit"]
        if unit["code"] != "gone":
            assert unit == registry.service.get_unit(unit["code"])
            revoked[unit["code"]] = (data["documents"], data["successor_code"], unit["revocation"]["revoked_by"])
    return revoked


@pytest.mark.parametrize("from_codes", [["aa", "bb"], ["bb"]], ids=["into-a-member", "into-another-unit"])
def test_merging_into_a_kept_unit_revokes_the_others(units, from_codes):
    merged = units.service.merge_units({"from_codes": from_codes, "into_code": "aa"}, actor=units.operator)
    kept = units.service.get_unit("aa")
    assert merged == {"from_codes": from_codes, "into_code": "aa", "new_unit_created": False, "unit": kept}
    assert kept["status"] == "active" and kept["name"] == "单位aa"
    assert merge_revocations(units) == {"bb": ("transfer", "aa", "op-1")}
    assert units.events()[-1] == ("unit_merged", merged)
    [record] = units.session.scalars(select(UnitMerge))
    assert (record.into_code, record.from_codes, record.merged_by) == ("aa", from_codes, "op-1")


def test_merging_into_a_new_unit_registers_it_and_revokes_every_old_one(units):
    merged = units.service.merge_units({"from_codes": ["aa", "bb"], "new": NEW}, actor=units.operator)
    new_unit = units.service.get_unit("cc")
    assert new_unit["status"] == "active" and merged["unit"] == new_unit
    assert merged["into_code"] == "cc" and merged["new_unit_created"] is True
    assert merge_revocations(units) == {"aa": ("transfer", "cc", "op-1"), "bb": ("transfer", "cc", "op-1")}
    assert [event for event, _ in units.events()][-4:] == ["unit_registered", "unit_revoked", "unit_revoked",
                                                          "unit_merged"]
    assert ("unit_registered", new_unit) in units.events()


@pytest.mark.parametrize("from_codes, target, code, status", [
    (["aa"], {"into_code": "aa"}, "MERGE_INTO_SELF", 422),
    (["aa", "aa"], {"into_code": "bb"}, "VALIDATION_ERROR", 400),
    (["aa", "bb"], {"into_code": "aa", "new": NEW}, "VALIDATION_ERROR", 400),
    (["aa", "bb"], {}, "VALIDATION_ERROR", 400),
    ([], {"into_code": "aa"}, "VALIDATION_ERROR", 400),
    (["aa"], {"new": NEW}, "VALIDATION_ERROR", 400),
    (["aa", "bb"], {"new": {**NEW, "kind": "club"}}, "VALIDATION_ERROR", 400),
    (["aa", "nobody"], {"into_code": "aa"}, "UNIT_NOT_FOUND", 404),
    (["aa"], {"into_code": "nobody"}, "UNIT_NOT_FOUND", 404),
    (["aa", "gone"], {"into_code": "aa"}, "UNIT_REVOKED", 409),
    (["aa"], {"into_code": "gone"}, "UNIT_REVOKED", 409),
    (["aa", "gone"], {"new": NEW}, "UNIT_REVOKED", 409),
    (["aa"], {"into_code": "pending"}, "UNIT_NOT_APPROVED", 409),
    (["aa", "bb"], {"new": {**NEW, "code": "pending"}}, "UNIT_CODE_TAKEN", 409),
    (["aa", "bb"], {"new": {**NEW, "parent_code": "nowhere"}}, "UNKNOWN_PARENT_UNIT", 422),
])
def test_refused_merges_change_nothing(units, from_codes, target, code, status):
    units.refuses(code, status, units.service.merge_units, {"from_codes": from_codes, **target})


def test_a_repeated_merge_with_the_same_key_answers_the_first_result(units):
    merge = {"from_codes": ["aa", "bb"], "into_code": "aa"}
    first = units.service.merge_units(merge, idempotency_key="m-1")
    assert units.service.merge_units(merge, idempotency_key="m-1") == first
    assert len(units.events("unit_merged")) == 1
    units.refuses("IDEMPOTENCY_KEY_REUSED", 409, units.service.merge_units, {"from_codes": ["aa", "bb"], "new": NEW},
                  idempotency_key="m-1")
