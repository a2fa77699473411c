"""Two-person custody of a seal's use (004 五(四), 003 §22) and the three-party destruction (003 §21)."""
import hashlib

from sqlalchemy import select

from gongwen_seal.models import Seal, UseApproval

KEEPERS = ["keeper-li", "keeper-wang", "keeper-zhao"]


def keeper(seals, user_id, unit_code="gz-fgw", **kwargs):
    return seals.person(user_id, unit_code, "custodian", **kwargs)


def test_two_person_custody_needs_two_distinct_fresh_approvals_of_this_manifest(seals):
    seal = seals.active_seal("gz-fgw", required=2, custodians=KEEPERS)
    manifest = seals.document("gz-fgw")
    digest = hashlib.sha256(manifest).hexdigest()

    def approve(user_id, sha=digest):
        return seals.call("approve_use", seal["serial"], {"manifest_sha256": sha},
                          keeper(seals, user_id))["approval_id"]

    assert seals.refused("sign", "gz-fgw", seals.b64(manifest), seals.clerk("gz-fgw")).code == \
        "CUSTODY_APPROVAL_REQUIRED"
    first = approve("keeper-li")
    assert seals.refused("sign", "gz-fgw", seals.b64(manifest), seals.clerk("gz-fgw")).code == \
        "CUSTODY_APPROVAL_REQUIRED"  # one approval is not enough
    again = approve("keeper-li")
    assert seals.refused("sign", "gz-fgw", seals.b64(manifest), seals.clerk("gz-fgw"),
                         approval_ids=[first, again]).code == "CUSTODY_APPROVAL_REQUIRED"  # the same person twice
    other_manifest = approve("keeper-wang", sha="0" * 64)
    assert seals.refused("sign", "gz-fgw", seals.b64(manifest), seals.clerk("gz-fgw"),
                         approval_ids=[first, other_manifest]).code == "CUSTODY_APPROVAL_REQUIRED"

    # An approval older than the window does not count.
    seals.clock.advance(minutes=16)
    late = approve("keeper-wang")
    assert seals.refused("sign", "gz-fgw", seals.b64(manifest), seals.clerk("gz-fgw"),
                         approval_ids=[first, late]).code == "CUSTODY_APPROVAL_REQUIRED"
    fresh = approve("keeper-zhao")
    sealed = seals.sign("gz-fgw", manifest, approval_ids=[late, fresh])
    assert sorted(sealed["approvals_used"]) == sorted([late, fresh])
    # Each approval serves one use: with a new partner it no longer counts. (The same request
    # again is a retry: it answers the first signature, see test_seal_retries.)
    partner = approve("keeper-li")
    assert seals.refused("sign", "gz-fgw", seals.b64(manifest), seals.clerk("gz-fgw"),
                         approval_ids=[fresh, partner]).code == "CUSTODY_APPROVAL_REQUIRED"
    assert seals.session.scalar(select(UseApproval.used_at).where(UseApproval.id == first)) is None


def test_only_named_custodians_in_person_may_approve(seals):
    seal = seals.active_seal("gz-fgw", required=2, custodians=KEEPERS)
    digest = "a" * 64
    use = {"manifest_sha256": digest}
    assert seals.refused("approve_use", seal["serial"], use, keeper(seals, "stranger")).code == "NOT_A_CUSTODIAN"
    assert seals.refused("approve_use", seal["serial"], use, keeper(seals, "keeper-li", "gz-cz")).code == \
        "NOT_FOUND"
    assert seals.refused("approve_use", seal["serial"], use, keeper(seals, "keeper-li", proxy="someone")).code == \
        "PROXY_NOT_ALLOWED"
    assert seals.refused("approve_use", seal["serial"], {"manifest_sha256": "not-a-digest"},
                         keeper(seals, "keeper-li")).code == \
        "VALIDATION_ERROR"


def test_destruction_needs_all_three_parties_then_the_key_is_gone_and_old_signatures_still_verify(seals):
    seals.unit("bureau", "广州市国家保密局", kind="secrecy_bureau")
    seal = seals.active_seal("gz-fgw")
    manifest = seals.document("gz-fgw")
    sealed = seals.sign("gz-fgw", manifest)["signature"]
    serial = seal["serial"]
    secrecy = seals.person("sec-1", "bureau", "secrecy_officer")
    unit_secrecy = seals.person("sec-2", "gz-fgw", "secrecy_officer")

    assert seals.refused("approve_destruction", serial, seals.clerk("gz-fgw")).code == "DESTRUCTION_PARTY_REQUIRED"
    assert seals.refused("approve_destruction", serial, unit_secrecy).code == "DESTRUCTION_PARTY_REQUIRED"
    assert seals.refused("approve_destruction", serial, seals.admin("gz-cz")).code == "NOT_FOUND"
    assert seals.refused("approve_destruction", serial,
                         seals.person("admin-gz-fgw", "gz-fgw", "admin", proxy="clerk-gz-fgw")).code == \
        "PROXY_NOT_ALLOWED"
    first = seals.call("approve_destruction", serial, seals.operator)
    assert first["destruction"] == {"recorded": ["operator"], "missing": ["secrecy_bureau", "owning_unit"]}
    again = seals.call("approve_destruction", serial, seals.operator)  # recorded once
    assert again["destruction"]["recorded"] == ["operator"]
    second = seals.call("approve_destruction", serial, secrecy)
    assert second["status"] == "active"  # two of three: nothing destroyed
    seals.sign("gz-fgw", seals.document("gz-fgw", title="还能盖章"))

    seals.clock.advance(hours=1)
    third = seals.call("approve_destruction", serial, seals.admin("gz-fgw"))
    assert (third["status"], third["destruction"]["missing"]) == ("destroyed", [])
    row = seals.session.get(Seal, serial)
    assert row.key_ciphertext is None and row.wrapped_data_key is None
    assert seals.refused("sign", "gz-fgw", seals.b64(manifest), seals.clerk("gz-fgw")).code == "SEAL_NOT_ACTIVE"
    old = seals.verify(manifest, sealed)
    assert (old["valid"], old["reason"], old["seal_status"]) == (True, None, "destroyed")
    assert [e["serial"] for e in seals.events("seal_destroyed")] == [serial]
