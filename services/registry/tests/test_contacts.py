"""A unit's contacts: checked mobiles, SMS needs, and every change filed (备案)."""
import pytest
from sqlalchemy import select

from gongwen_registry.models import AuditRecord, ContactChange

CONTACTS = {"admin_user_id": "u-1", "clerk_user_ids": ["u-2", "u-3"], "leader_user_id": "u-4", "sms_enabled": True,
            "mobiles": {"u-2": "138-0013-8002", "u-3": "+86 138 0013 8003", "u-4": "13800138004"}}
FILED = {**CONTACTS, "mobiles": {"u-2": "+8613800138002", "u-3": "+8613800138003", "u-4": "+8613800138004"}}


def filings(registry):
    return [(c.before, c.after, c.filed_by) for c in registry.session.scalars(select(ContactChange).order_by("id"))]


def test_contacts_are_stored_in_e164_filed_and_announced(registry):
    registry.unit("aa")
    unit = registry.service.set_contacts("aa", CONTACTS, actor=registry.operator)
    assert unit["sms_enabled"] is True
    assert unit["contacts"] == {key: FILED[key] for key in ("admin_user_id", "clerk_user_ids", "leader_user_id",
                                                            "mobiles")}
    assert filings(registry) == [(None, FILED, "op-1")]
    assert registry.events("contacts_changed") == [
        ("contacts_changed", {"unit": unit, "contacts": FILED, "filed_by": "op-1"})]


def test_each_change_is_filed_with_what_it_replaced_and_a_repeat_is_no_change(registry):
    registry.unit("aa")
    registry.service.set_contacts("aa", CONTACTS)
    changed = {**CONTACTS, "clerk_user_ids": [2], "sms_enabled": False, "mobiles": {}}
    unit = registry.service.set_contacts("aa", changed, actor={"user_id": 9, "roles": ["operator"]})
    assert unit["contacts"]["clerk_user_ids"] == ["2"] and unit["sms_enabled"] is False
    assert filings(registry)[-1] == (FILED, {**changed, "clerk_user_ids": ["2"]}, "9")
    before = registry.snapshot()
    assert registry.service.set_contacts("aa", changed) == unit
    assert registry.snapshot() == before


@pytest.mark.parametrize("number", ["12345", "not a number", "010 6552 9988", "1380013800"])
def test_a_number_that_is_not_a_mobile_is_refused_naming_its_user(registry, number):
    registry.unit("aa")
    body = {**CONTACTS, "mobiles": {**CONTACTS["mobiles"], "u-3": number}}
    refused = registry.refuses("INVALID_PHONE_NUMBER", 422, registry.service.set_contacts, "aa", body)
    assert list(refused.fields["mobiles"]) == ["u-3"]


@pytest.mark.parametrize("without", ["u-2", "u-4"], ids=["clerk", "leader"])
def test_sms_needs_the_leaders_and_every_clerks_mobile(registry, without):
    registry.unit("aa")
    body = {**CONTACTS, "mobiles": {k: v for k, v in CONTACTS["mobiles"].items() if k != without}}
    refused = registry.refuses("MOBILE_REQUIRED", 422, registry.service.set_contacts, "aa", body)
    assert list(refused.fields["mobiles"]) == [without]
    assert registry.service.set_contacts("aa", {**body, "sms_enabled": False})["sms_enabled"] is False


@pytest.mark.parametrize("change", [
    {"clerk_user_ids": []}, {"clerk_user_ids": ["u-2", "u-3", "u-5"]}, {"clerk_user_ids": ["u-2", "u-2"]},
    {"sms_enabled": "yes"}, {"admin_user_id": None}, {"extra": 1},
])
def test_malformed_contacts_are_refused(registry, change):
    registry.unit("aa")
    registry.refuses("VALIDATION_ERROR", 400, registry.service.set_contacts, "aa", {**CONTACTS, **change})


@pytest.mark.parametrize("code, status, error, http_status", [
    ("aa", "applied", "UNIT_NOT_APPROVED", 409),
    ("aa", "revoked", "UNIT_REVOKED", 409),
    ("nobody", "active", "UNIT_NOT_FOUND", 404),
])
def test_only_an_active_unit_files_contacts(registry, code, status, error, http_status):
    registry.unit("aa", status=status)
    registry.refuses(error, http_status, registry.service.set_contacts, code, CONTACTS)


def test_every_change_is_audited_with_the_proxy_beside_the_principal(registry):
    registry.unit("aa")
    by_proxy = {"user_id": "admin-aa", "proxy_user_id": "clerk-aa", "unit_code": "aa", "roles": ["admin"]}
    registry.service.set_contacts("aa", {**CONTACTS, "sms_enabled": False}, actor=by_proxy)
    records = [(r.action, r.subject_id, r.actor, r.proxy_user_id)
               for r in registry.session.scalars(select(AuditRecord).order_by(AuditRecord.id))]
    assert records == [("unit_registered", "aa", "op-1", None),
                       ("contacts_changed", "aa", "admin-aa", "clerk-aa")]
    assert filings(registry) == [(None, {**FILED, "sms_enabled": False}, "admin-aa")]


@pytest.mark.parametrize("value", [0, 1, 0.0, "true", None])
def test_sms_enabled_is_a_json_boolean_never_a_number_that_equals_one(registry, value):
    """The document says boolean: 0 and 1 are refused like "yes" (0 == False in Python)."""
    registry.unit("aa")
    registry.refuses("VALIDATION_ERROR", 400, registry.service.set_contacts, "aa", {**CONTACTS, "sms_enabled": value})
