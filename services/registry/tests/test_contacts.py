"""A unit's contacts: users of the unit (identity says so), SMS needs their accounts' mobiles,
and every change filed (备案)."""
import pytest
from sqlalchemy import select

from gongwen_registry.models import AuditRecord, ContactChange

CONTACTS = {"admin_user_id": "u-1", "clerk_user_ids": ["u-2", "u-3"], "leader_user_id": "u-4", "sms_enabled": True}
FILED = {**CONTACTS, "deputy_leader_user_id": None}


@pytest.fixture
def unit_aa(registry):
    registry.unit("aa")
    registry.people("aa", "u-1", "u-2", "u-3", "u-4", "u-5")
    return registry


def filings(registry):
    return [(c.before, c.after, c.filed_by) for c in registry.session.scalars(select(ContactChange).order_by("id"))]


def test_contacts_name_users_and_are_filed_and_announced(unit_aa):
    registry = unit_aa
    unit = registry.service.set_contacts("aa", CONTACTS, actor=registry.operator)
    assert unit["sms_enabled"] is True
    assert unit["contacts"] == {key: FILED[key] for key in ("admin_user_id", "clerk_user_ids", "leader_user_id",
                                                            "deputy_leader_user_id")}
    assert filings(registry) == [(None, FILED, "op-1")]
    assert registry.events("contacts_changed") == [
        ("contacts_changed", {"unit": unit, "contacts": FILED, "filed_by": "op-1"})]


def test_a_filing_has_no_mobiles_of_its_own(unit_aa):
    """One source for a person's mobile: the account in identity; a second map could disagree."""
    registry = unit_aa
    registry.refuses("VALIDATION_ERROR", 400, registry.service.set_contacts, "aa",
                     {**CONTACTS, "mobiles": {"u-2": "13800138002"}})
    unit = registry.service.set_contacts("aa", CONTACTS)
    assert "mobiles" not in unit["contacts"] and "mobiles" not in registry.events()[-1][1]["contacts"]


def test_each_change_is_filed_with_what_it_replaced_and_a_repeat_is_no_change(unit_aa):
    registry = unit_aa
    registry.people("aa", "2")
    registry.service.set_contacts("aa", CONTACTS)
    changed = {**CONTACTS, "clerk_user_ids": [2], "sms_enabled": False, "deputy_leader_user_id": "u-5"}
    unit = registry.service.set_contacts("aa", changed, actor={"user_id": 9, "roles": ["operator"]})
    assert unit["contacts"]["clerk_user_ids"] == ["2"] and unit["sms_enabled"] is False
    assert filings(registry)[-1] == (FILED, {**changed, "clerk_user_ids": ["2"]}, "9")
    before = registry.snapshot()
    assert registry.service.set_contacts("aa", changed) == unit
    assert registry.snapshot() == before


@pytest.mark.parametrize("field, value", [("clerk_user_ids", ["u-2", "stranger"]), ("leader_user_id", "bb-1"),
                                          ("admin_user_id", "stranger"), ("deputy_leader_user_id", "bb-1")])
def test_each_named_person_must_be_an_active_user_of_the_unit_as_identity_says(unit_aa, field, value):
    registry = unit_aa
    registry.people("bb", "bb-1")
    refused = registry.refuses("NOT_UNIT_MEMBERS", 422, registry.service.set_contacts, "aa",
                               {**CONTACTS, field: value})
    assert list(refused.fields) == [field]


@pytest.mark.parametrize("without, field", [("u-2", "clerk_user_ids"), ("u-4", "leader_user_id"),
                                            ("u-5", "deputy_leader_user_id")])
def test_sms_needs_the_leaders_the_deputys_and_every_clerks_account_to_have_a_mobile(unit_aa, without, field):
    registry = unit_aa
    registry.people("aa", without, mobile=None)
    body = {**CONTACTS, "deputy_leader_user_id": "u-5"}
    refused = registry.refuses("MOBILE_REQUIRED", 422, registry.service.set_contacts, "aa", body)
    assert list(refused.fields) == [field] and without in refused.fields[field][0]
    assert registry.service.set_contacts("aa", {**body, "sms_enabled": False})["sms_enabled"] is False


@pytest.mark.parametrize("change", [
    {"clerk_user_ids": []}, {"clerk_user_ids": ["u-2", "u-3", "u-5"]}, {"clerk_user_ids": ["u-2", "u-2"]},
    {"sms_enabled": "yes"}, {"admin_user_id": None}, {"extra": 1},
])
def test_malformed_contacts_are_refused(unit_aa, change):
    registry = unit_aa
    registry.refuses("VALIDATION_ERROR", 400, registry.service.set_contacts, "aa", {**CONTACTS, **change})


@pytest.mark.parametrize("code, status, error, http_status", [
    ("aa", "applied", "UNIT_NOT_APPROVED", 409),
    ("aa", "revoked", "UNIT_REVOKED", 409),
    ("nobody", "active", "UNIT_NOT_FOUND", 404),
])
def test_only_an_active_unit_files_contacts(registry, code, status, error, http_status):
    registry.unit("aa", status=status)
    registry.people("aa", "u-1", "u-2", "u-3", "u-4")
    registry.refuses(error, http_status, registry.service.set_contacts, code, CONTACTS)


def test_every_change_is_audited_with_the_proxy_beside_the_principal(unit_aa):
    registry = unit_aa
    by_proxy = {"user_id": "admin-aa", "proxy_user_id": "clerk-aa", "unit_code": "aa", "roles": ["admin"]}
    registry.service.set_contacts("aa", {**CONTACTS, "sms_enabled": False}, actor=by_proxy)
    records = [(r.action, r.subject_id, r.actor, r.proxy_user_id)
               for r in registry.session.scalars(select(AuditRecord).order_by(AuditRecord.id))]
    assert records == [("unit_registered", "aa", "op-1", None),
                       ("contacts_changed", "aa", "admin-aa", "clerk-aa")]
    assert filings(registry) == [(None, {**FILED, "sms_enabled": False}, "admin-aa")]


@pytest.mark.parametrize("value", [0, 1, 0.0, "true", None])
def test_sms_enabled_is_a_json_boolean_never_a_number_that_equals_one(unit_aa, value):
    """The document says boolean: 0 and 1 are refused like "yes" (0 == False in Python)."""
    registry = unit_aa
    registry.refuses("VALIDATION_ERROR", 400, registry.service.set_contacts, "aa", {**CONTACTS, "sms_enabled": value})
