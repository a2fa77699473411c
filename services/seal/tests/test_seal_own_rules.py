"""The seal service enforces its own rules whoever calls it (issue 10, "rules where they live"):
it asks identity itself whether custodians are active users of the unit, and the registry
itself whether a secrecy officer's unit is the secrecy bureau (保密局); a caller that skips the
gateway, or claims a ``unit_kind`` in the actor, gains nothing."""
from sqlalchemy import func, select

from gongwen_common.errors import ServiceUnavailable
from gongwen_seal.models import DestructionApproval, Seal


def count(seals, model) -> int:
    return seals.session.scalar(select(func.count()).select_from(model))


def test_the_seal_service_itself_refuses_custodians_who_are_not_active_users_of_the_unit(seals):
    seals.unit("gz-fgw", members=["keeper-li"])
    seals.unit("gz-cz", members=["keeper-zhao"])
    admin = seals.admin("gz-fgw")
    for custodians in (["keeper-li", "stranger"], ["keeper-li", "keeper-zhao"]):  # nobody's, another unit's
        custody = {"required_approvals": 2, "custodian_user_ids": custodians}
        refusal = seals.refused("apply_seal", {"unit_code": "gz-fgw", "custody": custody}, admin,
                                idempotency_key=f"k-{custodians[1]}")
        # well-formed ids the rules refuse: 422 (API.md: a domain code, 409 or 422), with the field named
        assert (refusal.code, refusal.status) == ("INVALID_CUSTODY", 422)
        assert list(refusal.fields) == ["custody"] and list(refusal.fields["custody"]) == ["custodian_user_ids"]
        assert custodians[1] in refusal.fields["custody"]["custodian_user_ids"][0]
    assert ("active_members", "gz-fgw", ["keeper-li", "stranger"]) in seals.identity.asked
    assert count(seals, Seal) == 0 and seals.events("seal_applied") == []

    seals.member("gz-fgw", "keeper-wang")
    applied = seals.call("apply_seal", {"unit_code": "gz-fgw", "custody": {"required_approvals": 2,
                                                  "custodian_user_ids": ["keeper-li", "keeper-wang"]}}, admin)
    assert applied["custody"]["custodian_user_ids"] == ["keeper-li", "keeper-wang"]


def test_a_secrecy_officer_stands_for_the_bureau_only_if_the_registry_says_so_whatever_the_actor_claims(seals):
    seals.unit("bureau", "广州市国家保密局", kind="secrecy_bureau")
    seals.unit("gz-cz", kind="department")
    serial = seals.active_seal("gz-fgw")["serial"]

    def claiming(user_id, unit_code):
        return {**seals.person(user_id, unit_code, "secrecy_officer"), "unit_kind": "secrecy_bureau"}

    # The seal's own unit's officer, and one of a unit the registry does not know, claim the bureau's kind.
    assert seals.refused("approve_destruction", serial, claiming("sec-fgw", "gz-fgw")).code == \
        "DESTRUCTION_PARTY_REQUIRED"
    assert seals.refused("approve_destruction", serial, claiming("sec-x", "nowhere")).code == "NOT_FOUND"
    assert seals.refused("approve_destruction", serial, claiming("sec-cz", "gz-cz")).code == "NOT_FOUND"
    assert ("get_unit", "gz-cz") in seals.registry.asked
    assert count(seals, DestructionApproval) == 0

    recorded = seals.call("approve_destruction", serial, seals.person("sec-1", "bureau", "secrecy_officer"))
    assert recorded["destruction"]["recorded"] == ["secrecy_bureau"]


def test_a_secrecy_officer_is_refused_with_503_when_the_registry_does_not_answer_and_nothing_is_recorded(seals):
    seals.unit("bureau", kind="secrecy_bureau")
    serial = seals.active_seal("gz-fgw")["serial"]

    def away(code, actor=None):
        raise ServiceUnavailable(message="registry did not answer").flatten()

    seals.registry.methods["get_unit"] = away
    refusal = seals.refused("approve_destruction", serial, seals.person("sec-1", "bureau", "secrecy_officer"))
    assert (refusal.code, refusal.status) == ("SERVICE_UNAVAILABLE", 503)
    assert count(seals, DestructionApproval) == 0
    # The other parties do not need the registry.
    assert seals.call("approve_destruction", serial, seals.operator)["destruction"]["recorded"] == ["operator"]
