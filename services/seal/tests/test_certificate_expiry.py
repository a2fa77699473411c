"""Certificate expiry alerts: the CA and every active seal's certificate raise
``certificate_expiring`` 60, 30 and 7 days before they expire, once per threshold (moved clock)."""
from datetime import timedelta

from cryptography import x509
from sqlalchemy import select

from gongwen_contracts.events import load_event_data
from gongwen_seal.models import CertificateExpiryAlert, Seal


def _check(seals):
    return seals.call("check_certificate_expiry")


def test_a_seal_certificate_raises_its_alerts_60_30_and_7_days_before_expiry_once_each(seals):
    issued = seals.active_seal("gz-fgw")
    seals.call("ca_certificate")
    not_after = seals.session.get(Seal, issued["serial"]).not_after
    seals.clock.now = not_after - timedelta(days=61)
    assert _check(seals) == 0
    raised = []
    for days in (60, 30, 7):
        seals.clock.now = not_after - timedelta(days=days)
        assert _check(seals) == 1
        assert _check(seals) == 0, "a threshold is raised once, however often the timer runs"
        raised.append(seals.events("certificate_expiring")[-1])
    assert [(e["certificate"], e["threshold_days"], e["days_left"]) for e in raised] == \
        [("seal", 60, 60), ("seal", 30, 30), ("seal", 7, 7)]
    event = load_event_data("seal", "certificate_expiring", raised[0])
    assert (event["seal_serial"], event["unit_code"], event["not_after"]) == (issued["serial"], "gz-fgw", not_after)
    certificate = x509.load_pem_x509_certificate(seals.call("seal_certificate", issued["serial"]).encode())
    assert raised[0]["certificate_serial"] == format(certificate.serial_number, "x")


def test_the_ca_certificate_raises_its_alert_and_one_first_seen_late_raises_only_the_tightest(seals):
    root = x509.load_pem_x509_certificate(seals.call("ca_certificate").encode())
    seals.clock.now = root.not_valid_after_utc - timedelta(days=6)
    assert _check(seals) == 1
    (event,) = seals.events("certificate_expiring")
    assert (event["certificate"], event["threshold_days"], event["unit_code"]) == ("ca", 7, None)
    assert event["certificate_serial"] == format(root.serial_number, "x")
    recorded = seals.session.scalars(select(CertificateExpiryAlert.threshold_days)
                                     .order_by(CertificateExpiryAlert.threshold_days)).all()
    assert recorded == [7, 30, 60], "the wider thresholds passed are recorded, not raised late"
    assert _check(seals) == 0


def test_a_revoked_seal_raises_no_expiry_alert(seals):
    issued = seals.active_seal("gz-fgw")
    not_after = seals.session.get(Seal, issued["serial"]).not_after
    seals.call("revoke_seal", issued["serial"], {"reason": "单位撤销"}, seals.operator)
    seals.clock.now = not_after - timedelta(days=5)
    _check(seals)
    assert [e for e in seals.events("certificate_expiring") if e["certificate"] == "seal"] == []
