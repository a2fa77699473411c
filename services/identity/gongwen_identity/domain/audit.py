"""The audit trail: every state change, with the acting principal and the system's own time."""
from ..models import AuditRecord

# Actors that are not a user: the bootstrap CLI and the registry's events.
BOOTSTRAP = "bootstrap"
REGISTRY = "system:registry"


def record(session, now, actor: str | None, action: str, subject_type: str, subject_id: str | None,
           **details) -> None:
    session.add(AuditRecord(occurred_at=now, actor=actor or "anonymous", action=action,
                            subject_type=subject_type, subject_id=subject_id, details=details))
