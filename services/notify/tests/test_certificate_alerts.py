"""The seal's ``certificate_expiring`` becomes an SMS to every operator and the owning unit's admin
(their real-name mobiles from notify's copy of people); whoever cannot be told is recorded with why."""
from datetime import timedelta

from sqlalchemy import select

from gongwen_contracts.events import load_event_data
from gongwen_notify.models import CertificateAlert, TemplateRecord


def expiring(notify, certificate="seal", unit_code="gz-fgw", days=30):
    not_after = notify.clock.now + timedelta(days=days, hours=3)
    data = {"certificate": certificate, "certificate_serial": "5eed" + str(days), "not_after": not_after.isoformat(),
            "seal_serial": f"S-{unit_code}" if certificate == "seal" else None,
            "unit_code": unit_code if certificate == "seal" else None,
            "unit_name": f"{unit_code}单位" if certificate == "seal" else None,
            "days_left": days, "threshold_days": days}
    load_event_data("seal", "certificate_expiring", data)  # what the seal's contract says it sends
    notify.event("seal", "certificate_expiring", data)
    return data


def alerts(notify):
    return list(notify.session.scalars(select(CertificateAlert).order_by(CertificateAlert.id)))


def test_an_expiring_seal_certificate_is_texted_to_the_operator_and_the_units_admin(notify):
    operator = notify.person("platform", "operator")
    unit = notify.unit("gz-fgw")
    expiring(notify, days=30)
    sent = notify.messages()
    assert sorted(m.user_id for m in sent) == sorted([operator, unit["admin"]])
    assert {m.channel for m in sent} == {"sms"} and len({m.to for m in sent}) == 2
    assert "gz-fgw单位" in sent[0].body and "剩30天" in sent[0].body and "电子印章证书" in sent[0].body
    assert [(a.role, a.status, a.reason) for a in alerts(notify)] == [("operator", "queued", None),
                                                                     ("admin", "queued", None)]


def test_an_expiring_ca_certificate_is_texted_to_every_operator_only(notify):
    operators = {notify.person("platform", "operator"), notify.person("platform", "operator")}
    notify.unit("gz-fgw")
    expiring(notify, certificate="ca", days=7)
    assert {m.user_id for m in notify.messages()} == operators
    assert "平台根证书" in notify.messages()[0].body
    assert {a.role for a in alerts(notify)} == {"operator"}


def test_whoever_cannot_be_told_of_an_expiring_certificate_is_recorded_with_the_reason(notify):
    notify.unit("gz-fgw", sms=False)
    expiring(notify, days=60)
    assert notify.messages() == []
    assert [(a.role, a.status, a.reason) for a in alerts(notify)] == [("operator", "skipped", "no_operator"),
                                                                     ("admin", "skipped", "sms_not_enabled")]
    expiring(notify, unit_code="gz-unfiled", days=7)
    assert [(a.role, a.reason) for a in alerts(notify)][-1] == ("admin", "no_admin")


def test_an_unapproved_certificate_alert_template_sends_nothing(notify):
    notify.person("platform", "operator")
    notify.session.add(TemplateRecord(name="certificate_expiring", text="【公文交换】{unit}的{certificate}将到期",
                                      approved=False, updated_by="op-1", updated_at=notify.clock.now))
    notify.session.commit()
    expiring(notify, certificate="ca", days=7)
    assert notify.messages() == []
    assert [a.reason for a in alerts(notify)] == ["template_not_approved"]
