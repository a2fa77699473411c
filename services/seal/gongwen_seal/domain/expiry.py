"""Certificate expiry (证书到期提醒): the operator CA and every active seal's certificate raise an
alert 60, 30 and 7 days before they expire — ``certificate_expiring``, which notify turns into an
SMS to the operator and the owning unit's admin.

Each (certificate, threshold) is raised once: its row in ``certificate_expiry_alerts`` is inserted
first (on PostgreSQL a concurrent insert of the same key waits, then finds it) and commits with
the event, so every instance may check and only one raises it. A certificate first seen already
inside several thresholds (issued for less than 60 days, or a check missed for weeks) raises the
tightest one only, and the wider ones are recorded as passed."""
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from gongwen_common.db import insert_new

from ..models import Authority, CertificateExpiryAlert, Seal
from .keys import ROOT, certificate_of

THRESHOLDS_DAYS = (60, 30, 7)


@dataclass(frozen=True)
class Certificate:
    kind: str  # ca | seal
    certificate_serial: str
    not_after: datetime
    seal_serial: str | None = None
    unit_code: str | None = None
    unit_name: str | None = None

    def days_left(self, now: datetime) -> int:
        """Whole days until it expires (negative once expired)."""
        return (self.not_after - now).days


def certificates(session) -> list[Certificate]:
    """The CA's certificate (once made) and every active seal's."""
    found = []
    authority = session.get(Authority, ROOT)
    if authority is not None:
        certificate = certificate_of(authority.certificate_pem)
        found.append(Certificate("ca", format(certificate.serial_number, "x"), certificate.not_valid_after_utc))
    for seal in session.scalars(select(Seal).where(Seal.status == "active", Seal.not_after.is_not(None))
                                .order_by(Seal.serial)):
        found.append(Certificate("seal", seal.certificate_serial, seal.not_after, seal.serial, seal.unit_code,
                                 seal.unit_name))
    return found


def crossed(certificate: Certificate, now: datetime) -> list[int]:
    """The thresholds it is inside, widest first."""
    return [days for days in THRESHOLDS_DAYS if certificate.not_after - now <= timedelta(days=days)]


def check(session, now: datetime) -> int:
    """Raise what is due; the number of ``certificate_expiring`` events emitted."""
    raised = 0
    for certificate in certificates(session):
        thresholds = crossed(certificate, now)
        if not thresholds:
            continue
        new = [days for days in thresholds if insert_new(
            session, CertificateExpiryAlert, certificate_serial=certificate.certificate_serial,
            threshold_days=days, not_after=certificate.not_after, raised_at=now)]
        if thresholds[-1] in new:
            session.emit("certificate_expiring", {
                "certificate": certificate.kind, "certificate_serial": certificate.certificate_serial,
                "seal_serial": certificate.seal_serial, "unit_code": certificate.unit_code,
                "unit_name": certificate.unit_name, "not_after": certificate.not_after.isoformat(),
                "days_left": certificate.days_left(now), "threshold_days": thresholds[-1]}, at=now)
            raised += 1
    return raised
