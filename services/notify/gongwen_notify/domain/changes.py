"""Who changed notify's rules, and how: an edit of an escalation policy (the operator's default, a
unit admin's tightening) or of a template (its text, its approval) is an audit record and an event
(``notify_policy_changed``, ``notify_template_changed``), both in the edit's own transaction, so a
refused or failed edit leaves neither and the archive's ledger keeps every accepted one."""
import hashlib
import json

from gongwen_common.audit import AuditTrail, Caller

from ..models import AuditRecord

record = AuditTrail(AuditRecord).record


def digest(value) -> str | None:
    """SHA-256 of the value's canonical JSON (None: there was none)."""
    if value is None:
        return None
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
                          .encode()).hexdigest()


def announce(session, now, caller: Caller, event_type: str, subject_type: str, subject_id: str, data: dict) -> None:
    """The change's audit record and event, with who made it (and the proxy acting, if one did)."""
    data = {**data, "changed_by": caller.user_id, "proxy_user_id": caller.proxy_user_id, "at": now.isoformat()}
    record(session, now, caller, event_type, subject_type, subject_id, **data)
    session.emit(event_type, data, at=now)
