"""A seal's life: apply → approve (key and certificate made) → active → revoked; the registry's
rename and revocation of the unit; who may do what."""
import base64
from datetime import timedelta

from cryptography import x509
from sqlalchemy import select

from gongwen_seal import authority
from gongwen_seal.image import render_seal_png
from gongwen_seal.models import AuditRecord, Seal


def test_apply_then_approve_issues_a_certificate_from_the_operator_ca(seals):
    seals.unit("gz-fgw", "广州市发展和改革委员会")
    applied = seals.call("apply_seal", {"unit_code": "gz-fgw", "custody": {"required_approvals": 2,
                                                                           "custodian_user_ids": ["k1", "k2"]}},
                         seals.admin("gz-fgw"))
    assert (applied["status"], applied["custody"]["required_approvals"]) == ("applied", 2)
    assert seals.events("seal_applied") == [applied]
    issued = seals.call("approve_seal", applied["serial"], seals.operator)
    assert issued["status"] == "active" and issued["approved_at"]
    certificate = x509.load_pem_x509_certificate(seals.call("seal_certificate", applied["serial"]).encode())
    root = x509.load_pem_x509_certificate(seals.call("ca_certificate").encode())
    certificate.verify_directly_issued_by(root)
    assert (authority.unit_code_of(certificate), authority.seal_serial_of(certificate),
            authority.unit_name_of(certificate)) == ("gz-fgw", applied["serial"], "广州市发展和改革委员会")
    assert certificate.not_valid_after_utc - certificate.not_valid_before_utc == timedelta(days=730)
    assert [e["serial"] for e in seals.events("seal_issued")] == [applied["serial"]]
    png = base64.b64decode(seals.call("seal_image", applied["serial"]))
    assert png.startswith(b"\x89PNG")
    actions = seals.session.scalars(select(AuditRecord.action).order_by(AuditRecord.id)).all()
    assert actions == ["seal_applied", "seal_issued"]


def test_who_may_apply_approve_and_see(seals):
    seals.unit("gz-fgw")
    seals.unit("gz-cz")
    custody = {"required_approvals": 1, "custodian_user_ids": ["k1"]}
    assert seals.refused("apply_seal", {"unit_code": "gz-fgw", "custody": custody},
                         seals.admin("gz-cz")).code == "NOT_FOUND"
    assert seals.refused("apply_seal", {"unit_code": "gz-fgw", "custody": custody},
                         seals.clerk("gz-fgw")).code == "FORBIDDEN"
    assert seals.refused("apply_seal", {"unit_code": "nowhere", "custody": custody},
                         seals.operator).code == "UNKNOWN_UNIT"
    for bad, code in (({"required_approvals": 3, "custodian_user_ids": ["k1"]}, "VALIDATION_ERROR"),
                      ({"required_approvals": 2, "custodian_user_ids": ["k1"]}, "INVALID_CUSTODY"),
                      ({"required_approvals": 2, "custodian_user_ids": ["k1", "k1"]}, "INVALID_CUSTODY")):
        assert seals.refused("apply_seal", {"unit_code": "gz-fgw", "custody": bad}, seals.admin("gz-fgw")).code == code
    applied = seals.call("apply_seal", {"unit_code": "gz-fgw", "custody": custody}, seals.admin("gz-fgw"))
    assert seals.refused("apply_seal", {"unit_code": "gz-fgw", "custody": custody},
                         seals.admin("gz-fgw")).code == "INVALID_SEAL_STATE"
    assert seals.refused("approve_seal", applied["serial"], seals.admin("gz-fgw")).code == "FORBIDDEN"
    assert seals.refused("get_seal", applied["serial"], seals.admin("gz-cz")).code == "NOT_FOUND"
    assert seals.call("get_seal", applied["serial"], seals.clerk("gz-fgw"))["serial"] == applied["serial"]
    seals.call("approve_seal", applied["serial"], seals.operator)
    assert seals.refused("approve_seal", applied["serial"], seals.operator).code == "INVALID_SEAL_STATE"
    assert seals.refused("revoke_seal", applied["serial"], {"reason": "丢失"}, seals.admin("gz-cz")).code == "NOT_FOUND"
    revoked = seals.call("revoke_seal", applied["serial"], {"reason": "印章丢失"}, seals.admin("gz-fgw"))
    assert (revoked["status"], revoked["revocation_reason"]) == ("revoked", "印章丢失")
    assert seals.refused("revoke_seal", applied["serial"], {"reason": "again"},
                         seals.operator).code == "INVALID_SEAL_STATE"


def test_a_renamed_unit_gets_a_new_application_and_a_revoked_unit_loses_its_seal(seals):
    old = seals.active_seal("gz-fgw", required=2)
    renamed = {"code": "gz-fgw", "name": "广州市发展改革委", "status": "active", "version": 2}
    event = {"event_id": "e-rename", "event_type": "unit_renamed", "occurred_at": "2026-11-20T10:00:00+00:00",
             "data": {"unit": renamed}}
    seals.call("on_unit_renamed", event)
    old_row = seals.session.get(Seal, old["serial"])
    assert (old_row.status, old_row.revocation_reason) == ("revoked", "unit renamed")
    new = [s for s in seals.events("seal_applied") if s["serial"] != old["serial"]]
    assert len(new) == 1 and (new[0]["unit_name"], new[0]["replaces_serial"], new[0]["custody"]) == (
        "广州市发展改革委", old["serial"], old["custody"])
    seals.call("on_unit_renamed", event)  # the same state again changes nothing
    assert len(seals.events("seal_applied")) == 2

    revoked = {"code": "gz-fgw", "name": "广州市发展改革委", "status": "revoked", "version": 3}
    seals.call("on_unit_revoked", {"event_id": "e-revoke", "event_type": "unit_revoked",
                                   "occurred_at": "2026-11-20T11:00:00+00:00", "data": {"unit": revoked}})
    assert seals.session.get(Seal, new[0]["serial"]).status == "revoked"
    assert seals.refused("apply_seal", {"unit_code": "gz-fgw", "custody": {"required_approvals": 1,
                                                                           "custodian_user_ids": ["k"]}},
                         seals.operator).code == "UNKNOWN_UNIT"


def test_an_uploaded_image_replaces_the_rendered_one_before_issue_only(seals):
    seals.unit("gz-fgw")
    applied = seals.call("apply_seal", {"unit_code": "gz-fgw", "custody": {"required_approvals": 1,
                                                                           "custodian_user_ids": ["k1"]}},
                         seals.admin("gz-fgw"))
    assert seals.refused("set_seal_image", applied["serial"], seals.b64(b"GIF89a"), seals.admin("gz-fgw")).code == \
        "INVALID_SEAL_IMAGE"
    png = render_seal_png("上传的印章", size=200)
    assert seals.call("set_seal_image", applied["serial"], seals.b64(png), seals.admin("gz-fgw"))["image_source"] == \
        "uploaded"
    seals.call("approve_seal", applied["serial"], seals.operator)
    assert seals.refused("set_seal_image", applied["serial"], seals.b64(png), seals.admin("gz-fgw")).code == \
        "INVALID_SEAL_STATE"
