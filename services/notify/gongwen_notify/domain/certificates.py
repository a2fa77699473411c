"""Certificate expiry alerts (证书到期提醒): the seal's ``certificate_expiring`` becomes an SMS to
every operator and, for a seal's certificate, to the owning unit's filed admin, each from notify's
own copy of people (their real-name mobile). Whoever cannot be told is recorded with the reason.

The operators' alerts are the platform's own, sent whatever their unit's SMS choice; a unit admin's
follows the unit's (``sms_not_enabled`` otherwise), as every message a unit pays for does. An alert
is not combined, capped or held for quiet hours: it comes once per certificate and threshold."""
from datetime import datetime

from sqlalchemy import select

from ..delivery import queue_message
from ..models import CertificateAlert, Person, UnitContacts
from . import people, templates, texts
from .settings import NotifySettings

TEMPLATE = "certificate_expiring"
WHAT = {"ca": "平台根证书", "seal": "电子印章证书"}


def _operators(session) -> list[Person]:
    return [p for p in session.scalars(select(Person).where(Person.status == "active").order_by(Person.user_id))
            if "operator" in (p.roles or ())]


def _recipients(session, data) -> list[tuple[str, str | None, Person | None]]:
    """``(role, user_id, person)`` of everyone to tell; a None user id: nobody holds that role."""
    recipients = [("operator", p.user_id, p) for p in _operators(session)] or [("operator", None, None)]
    if data.get("unit_code"):
        contacts = session.get(UnitContacts, data["unit_code"])
        admin_id = contacts.admin_user_id if contacts else None
        recipients.append(("admin", admin_id, admin_id and session.get(Person, admin_id)))
    return recipients


def _text(session, data, settings: NotifySettings) -> str | None:
    template = templates.approved_text(session, TEMPLATE, settings)
    if template is None:
        return None
    not_after = datetime.fromisoformat(data["not_after"])
    values = {"certificate": WHAT.get(data.get("certificate"), "证书"),
              "unit": data.get("unit_name") or data.get("unit_code") or "运营方",
              "serial": data.get("seal_serial") or data.get("certificate_serial"),
              "days": max(int(data.get("days_left", 0)), 0),
              "expires": texts.local_time(not_after, settings.timezone)}
    return texts.fit(template, values, texts.capacity(settings.segment_budget) - settings.reserved_units, shrink="unit")


def certificate_expiring(session, data: dict, now, settings: NotifySettings) -> list[CertificateAlert]:
    """One alert row per recipient: ``queued`` with its message, or ``skipped`` with the reason."""
    body = _text(session, data, settings)
    alerts = []
    for role, user_id, person in _recipients(session, data):
        alert = CertificateAlert(certificate_serial=data["certificate_serial"], threshold_days=data["threshold_days"],
                                 unit_code=data.get("unit_code"), role=role, user_id=user_id, created_at=now)
        reason = _why_not(session, role, user_id, person, body)
        if reason:
            alert.status, alert.reason = "skipped", reason
        else:
            message = queue_message(session, channel="sms", to=person.mobile, body=body, unit_code=person.unit_code,
                                    now=now, user_id=person.user_id)
            alert.status, alert.message_id = "queued", message.id
        session.add(alert)
        alerts.append(alert)
    return alerts


def _why_not(session, role, user_id, person, body) -> str | None:
    if user_id is None:
        return f"no_{role}"
    ok, why = people.reachable(person)
    if not ok:
        return why
    if role == "admin" and not people.sms_enabled(session, person.unit_code):
        return "sms_not_enabled"
    if body is None:
        return "template_not_approved"
    return None
