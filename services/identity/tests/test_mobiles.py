"""The account's mobile is the one number SMS reminders go to (000 §11): the unit's admin or the
operator changes it, ``user_mobile_changed`` tells notify, and the registry asks here whether a
unit's filed leader and clerks have one."""


def test_a_changed_mobile_is_announced_to_those_who_send_sms(world):
    dave, carol = world.actor("dave"), world.user("carol")
    alice = world.user("alice")
    changed = world.call("change_mobile", alice.id, {"mobile": "139 0013 9000"}, dave)
    assert changed["mobile"] == "+8613900139000"
    [event] = world.events("user_mobile_changed")
    assert event == {"user": changed, "changed_by": dave["user_id"]}
    assert world.call("change_mobile", alice.id, {"mobile": "+8613900139000"}, dave) == changed
    assert len(world.events("user_mobile_changed")) == 1  # the same number again: no change announced
    assert world.refused("change_mobile", alice.id, {"mobile": "12345"}, dave).code == "INVALID_PHONE_NUMBER"
    assert world.refused("change_mobile", carol.id, {"mobile": "13900139001"}, dave).code == "NOT_FOUND"
    staff = world.refused("change_mobile", alice.id, {"mobile": "13900139001"}, world.actor("bob"))
    assert staff.code in ("FORBIDDEN", "PASSWORD_CHANGE_REQUIRED")  # bob is staff (and still on his first password)
    assert world.refused("change_mobile", alice.id, {}, dave).code == "VALIDATION_ERROR"


def test_a_leader_or_a_clerk_keeps_a_mobile(world):
    clerk = world.new_user("erin", ["clerk"])
    refused = world.refused("change_mobile", clerk["user_id"], {"mobile": None}, world.actor("operator"))
    assert (refused.code, refused.status) == ("MOBILE_REQUIRED", 422)
    staff = world.user("bob")
    assert world.call("change_mobile", staff.id, {"mobile": None}, world.actor("operator"))["mobile"] is None


def test_the_registry_learns_only_whether_active_members_have_a_mobile(world):
    operator = world.actor("operator")
    alice, bob, carol = world.user("alice"), world.user("bob"), world.user("carol")
    world.call("change_mobile", bob.id, {"mobile": None}, operator)
    assert world.call("members_with_mobiles", "gz-fgw", [alice.id, bob.id, carol.id, "nobody"]) == {
        alice.id: True, bob.id: False}
    assert world.refused("members_with_mobiles", "gz-fgw", "not a list").code == "VALIDATION_ERROR"
