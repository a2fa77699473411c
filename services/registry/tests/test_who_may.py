"""The registry decides who may do what, whoever calls it (not only behind the gateway)."""
import pytest

CONTACTS = {"admin_user_id": "u-1", "clerk_user_ids": ["u-2"], "leader_user_id": "u-4", "sms_enabled": False}


def member(unit_code, *roles):
    return {"user_id": f"{unit_code}-{'-'.join(roles)}", "unit_code": unit_code, "roles": list(roles)}


def application(code, parent_code):
    return {"code": code, "name": f"单位{code}", "kind": "department", "parent_code": parent_code}


def test_a_unit_admin_applies_only_for_a_unit_under_its_own_unit(registry):
    registry.unit("aa")
    registry.unit("bb")
    unit = registry.service.register_unit(application("aa-1", "aa"), actor=member("aa", "admin"))
    assert (unit["status"], unit["parent_code"]) == ("applied", "aa")
    for refused_application, actor in ((application("bb-1", "bb"), member("aa", "admin")),  # another unit's
                                       (application("top", None), member("aa", "admin")),  # no parent at all
                                       (application("aa-2", "aa"), member("aa", "clerk"))):  # not the admin
        registry.refuses("FORBIDDEN", 403, registry.service.register_unit, refused_application, actor=actor)


def test_only_the_operator_registers_a_unit_active_at_once(registry):
    registry.unit("aa")
    registry.refuses("FORBIDDEN", 403, registry.service.register_unit, application("aa-1", "aa"),
                     actor=member("aa", "admin"), active=True)
    assert registry.service.register_unit(application("aa-1", "aa"), actor=registry.operator,
                                          active=True)["status"] == "active"


def test_the_directory_shows_who_holds_each_role_to_everyone_and_no_mobile_to_anyone(registry):
    registry.unit("aa")
    registry.unit("bb")
    registry.people("aa", "u-1", "u-2", "u-4")
    registry.service.set_contacts("aa", CONTACTS, actor=registry.operator)

    def contacts_seen_by(actor):
        seen = [registry.service.get_unit("aa", actor=actor),
                next(u for u in registry.service.list_units(actor=actor)["items"] if u["code"] == "aa"),
                registry.service.resolve_units(["aa"], actor=actor)["units"]["aa"]]
        return [unit["contacts"] for unit in seen]

    filed = {"admin_user_id": "u-1", "clerk_user_ids": ["u-2"], "leader_user_id": "u-4", "deputy_leader_user_id": None}
    for actor in (registry.operator, member("aa", "staff"), member("bb", "clerk"), None):
        assert contacts_seen_by(actor) == [filed] * 3


def test_switching_sms_on_or_off_is_the_operators_only(registry):
    registry.unit("aa")
    registry.people("aa", "u-1", "u-2", "u-4")
    admin = member("aa", "admin")
    registry.service.set_contacts("aa", CONTACTS, actor=admin)  # its own contacts, SMS as it was
    registry.refuses("FORBIDDEN", 403, registry.service.set_contacts, "aa", {**CONTACTS, "sms_enabled": True},
                     actor=admin)
    assert registry.service.set_contacts("aa", {**CONTACTS, "sms_enabled": True},
                                         actor=registry.operator)["sms_enabled"] is True
    registry.refuses("FORBIDDEN", 403, registry.service.set_contacts, "aa", CONTACTS, actor=admin)
    changed = {**CONTACTS, "sms_enabled": True, "leader_user_id": "u-2"}
    assert registry.service.set_contacts("aa", changed, actor=admin)["contacts"]["leader_user_id"] == "u-2"


def test_a_unit_admin_files_only_its_own_units_contacts(registry):
    registry.unit("aa")
    registry.unit("bb")
    registry.refuses("UNIT_NOT_FOUND", 404, registry.service.set_contacts, "aa", CONTACTS, actor=member("bb", "admin"))
    registry.refuses("FORBIDDEN", 403, registry.service.set_contacts, "aa", CONTACTS, actor=member("aa", "clerk"))


@pytest.mark.parametrize("call, args, kwargs", [
    ("approve_unit", ("ap",), {}),
    ("rename_unit", ("aa", {"name": "新名称"}), {}),
    ("revoke_unit", ("aa", {"reason": "撤销", "documents": "archive"}), {}),
    ("merge_units", ({"from_codes": ["bb"], "into_code": "aa"},), {}),
])
def test_the_directorys_changes_are_the_operators_only(registry, call, args, kwargs):
    registry.unit("aa")
    registry.unit("bb")
    registry.unit("ap", status="applied")
    registry.refuses("FORBIDDEN", 403, getattr(registry.service, call), *args, actor=member("aa", "admin"), **kwargs)
