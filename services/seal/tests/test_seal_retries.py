"""Issue 9 in the seal service: custody and key material stay personal, a retry never doubles a
seal use or a print stamp, destruction's three parties are three people, and an old rename
replayed late does not undo a newer one."""
import hashlib

from sqlalchemy import func, select

from gongwen_seal.models import AuditRecord, DestructionApproval, PrintStamp, Seal, SealUse, UseApproval

KEEPERS = ["keeper-li", "keeper-wang", "keeper-zhao"]


def keeper(seals, user_id, unit_code="gz-fgw"):
    return seals.person(user_id, unit_code, "custodian")


def count(seals, model, *where):
    return seals.session.scalar(select(func.count()).select_from(model).where(*where))


# -- item 1: in person -----------------------------------------------------------------------

def test_a_proxy_may_not_name_seal_custodians_nor_issue_a_seals_key(seals):
    seals.unit("gz-fgw")
    custody = {"required_approvals": 1, "custodian_user_ids": ["k1"]}
    for_admin = seals.person("admin-gz-fgw", "gz-fgw", "admin", proxy="clerk-gz-fgw")
    application = {"unit_code": "gz-fgw", "custody": custody}
    assert seals.refused("apply_seal", application, for_admin).code == "PROXY_NOT_ALLOWED"
    assert seals.refused("apply_seal", application, for_admin, idempotency_key="k").code == "PROXY_NOT_ALLOWED"
    for_operator = {**seals.operator, "proxy_user_id": "op-deputy"}
    assert seals.refused("apply_seal", application, for_operator).code == "PROXY_NOT_ALLOWED"
    assert count(seals, Seal) == 0

    applied = seals.call("apply_seal", application, seals.admin("gz-fgw"))
    assert seals.refused("approve_seal", applied["serial"], for_operator).code == "PROXY_NOT_ALLOWED"
    row = seals.session.get(Seal, applied["serial"])
    assert (row.status, row.key_ciphertext, row.certificate_pem) == ("applied", None, None)
    # A custodian's approval of a use is custody itself (003 §22): in person too.
    issued = seals.call("approve_seal", applied["serial"], seals.operator)
    by_proxy = {**keeper(seals, "k1"), "proxy_user_id": "someone"}
    assert seals.refused("approve_use", issued["serial"], {"manifest_sha256": "a" * 64},
                         by_proxy).code == "PROXY_NOT_ALLOWED"
    assert count(seals, UseApproval) == 0


# -- item 8: seal.sign is idempotent under retry ----------------------------------------------

def test_a_retried_seal_sign_answers_the_first_signature_and_consumes_no_more_approvals(seals):
    seal = seals.active_seal("gz-fgw", required=2, custodians=KEEPERS)
    manifest = seals.document("gz-fgw")
    digest = hashlib.sha256(manifest).hexdigest()

    def approve(user_id):
        return seals.call("approve_use", seal["serial"], {"manifest_sha256": digest},
                          keeper(seals, user_id))["approval_id"]

    approvals = [approve("keeper-li"), approve("keeper-wang")]
    spare = [approve("keeper-zhao"), approve("keeper-li")]  # would let a second use through
    first = seals.sign("gz-fgw", manifest, approval_ids=approvals)
    seals.clock.advance(seconds=30)  # the caller timed out and asks again, approvals in another order
    again = seals.sign("gz-fgw", manifest, approval_ids=list(reversed(approvals)))
    assert again == first
    assert count(seals, SealUse) == 1 and len(seals.events("seal_used")) == 1
    assert count(seals, AuditRecord, AuditRecord.action == "seal_used") == 1
    assert count(seals, UseApproval, UseApproval.id.in_(spare), UseApproval.used_at.is_(None)) == 2

    # Without naming approvals, a retry is the same request too: nothing more is consumed.
    plain = seals.document("gz-fgw", title="另一份")
    plain_digest = hashlib.sha256(plain).hexdigest()
    for user_id in ("keeper-li", "keeper-wang", "keeper-zhao"):
        seals.call("approve_use", seal["serial"], {"manifest_sha256": plain_digest}, keeper(seals, user_id))
    sealed = seals.sign("gz-fgw", plain)
    assert seals.sign("gz-fgw", plain) == sealed
    assert count(seals, UseApproval, UseApproval.manifest_sha256 == plain_digest, UseApproval.used_at.is_(None)) == 1


def test_only_the_units_own_clerks_may_retry_a_sealing_and_approval_ids_must_be_a_list(seals):
    seals.active_seal("gz-fgw")
    seals.active_seal("gz-cz")
    manifest = seals.document("gz-fgw")
    seals.sign("gz-fgw", manifest)
    assert seals.refused("sign", "gz-fgw", seals.b64(manifest), seals.clerk("gz-cz")).code == "NOT_FOUND"
    assert seals.refused("sign", "gz-fgw", seals.b64(manifest), seals.clerk("gz-fgw"),
                         approval_ids="not-a-list").code == "VALIDATION_ERROR"


# -- item 2: a stamp key gives one stamp --------------------------------------------------------

def test_a_repeated_stamp_key_answers_the_same_stamp_and_records_no_second(seals):
    seals.active_seal("gz-fgw")
    manifest = seals.document("gz-fgw")
    signature = seals.sign("gz-fgw", manifest)["signature"]
    printer = seals.clerk("gz-cz")
    first = seals.call("verify_for_print", seals.b64(manifest), signature, printer, stamp_key="print-1")
    seals.clock.advance(seconds=20)
    again = seals.call("verify_for_print", seals.b64(manifest), signature, printer, stamp_key="print-1")
    assert first["stamp"]["print_serial"] and again["stamp"] == first["stamp"]
    assert count(seals, PrintStamp) == 1
    assert count(seals, AuditRecord, AuditRecord.action == "print_stamp_issued") == 1
    other = seals.call("verify_for_print", seals.b64(manifest), signature, printer, stamp_key="print-2")
    assert other["stamp"]["print_serial"] != first["stamp"]["print_serial"]
    # A key names one print of one document; another manifest under it is a caller's fault.
    other_manifest = seals.document("gz-fgw", title="另一份")
    other_signature = seals.sign("gz-fgw", other_manifest)["signature"]
    assert seals.refused("verify_for_print", seals.b64(other_manifest), other_signature, printer,
                         stamp_key="print-1").code == "STAMP_KEY_REUSED"
    assert seals.refused("verify_for_print", seals.b64(manifest), signature, printer,
                         stamp_key="x" * 81).code == "VALIDATION_ERROR"
    assert count(seals, PrintStamp) == 2


# -- item 7: three parties, three people ---------------------------------------------------------

def test_one_person_holding_two_roles_stands_for_one_destruction_party(seals):
    seals.unit("bureau", "广州市国家保密局", kind="secrecy_bureau")
    serial = seals.active_seal("gz-fgw")["serial"]
    # The operator's account also holds the secrecy bureau's officer role.
    both = {"user_id": "op-1", "unit_code": "bureau", "roles": ["operator", "secrecy_officer"]}
    assert seals.call("approve_destruction", serial, both)["destruction"]["recorded"] == ["operator"]
    again = seals.call("approve_destruction", serial, both)
    assert again["destruction"] == {"recorded": ["operator"], "missing": ["secrecy_bureau", "owning_unit"]}
    third = seals.call("approve_destruction", serial, seals.admin("gz-fgw"))
    assert third["status"] == "active" and third["destruction"]["missing"] == ["secrecy_bureau"]
    assert seals.session.get(Seal, serial).key_ciphertext is not None
    officer = seals.person("sec-1", "bureau", "secrecy_officer")
    done = seals.call("approve_destruction", serial, officer)
    assert done["status"] == "destroyed"
    people = seals.session.scalars(select(DestructionApproval.user_id).where(
        DestructionApproval.seal_serial == serial)).all()
    assert sorted(people) == ["admin-gz-fgw", "op-1", "sec-1"]


# -- item 10: an old rename does not undo a newer one ---------------------------------------------

def rename(name, version, delivery=""):
    return {"event_id": f"e-rename-{version}{delivery}", "event_type": "unit_renamed",
            "occurred_at": "2026-11-20T10:00:00+00:00",
            "data": {"unit": {"code": "gz-fgw", "name": name, "status": "active", "version": version}}}


def live_seals(seals):
    return seals.session.scalars(select(Seal).where(Seal.status.in_(("applied", "active")))).all()


def test_an_old_rename_replayed_after_a_newer_one_leaves_the_current_seal_alone(seals):
    """Rename v2 died on its way (dead-lettered) while v3 was applied; replayed now, it is older
    than the state held and must not revoke the seal made under v3's name."""
    seals.active_seal("gz-fgw")
    seals.call("on_unit_renamed", rename("广州市发展和改革局", 3))
    [current] = live_seals(seals)
    assert current.unit_name == "广州市发展和改革局"
    applied, revoked = len(seals.events("seal_applied")), len(seals.events("seal_revoked"))

    seals.call("on_unit_renamed", rename("广州市发展改革委", 2))  # the dead letter replayed
    assert seals.session.get(Seal, current.serial).status == "applied"
    assert [s.serial for s in live_seals(seals)] == [current.serial]
    assert (len(seals.events("seal_applied")), len(seals.events("seal_revoked"))) == (applied, revoked)

    # In order, then the old one published again under another event id: the same.
    seals.call("on_unit_renamed", rename("广州市发改局", 4))
    [newest] = live_seals(seals)
    seals.call("on_unit_renamed", rename("广州市发展和改革局", 3, delivery="-again"))
    assert [(s.serial, s.unit_name) for s in live_seals(seals)] == [(newest.serial, "广州市发改局")]
