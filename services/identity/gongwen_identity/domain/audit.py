"""The audit trail (``gongwen_common.audit``): every state change, with the acting principal (and
their proxy, when one acted for them) and the system's own time."""
from gongwen_common.audit import AuditTrail

from ..models import AuditRecord

# Actors that are not a user: the bootstrap CLI and the registry's events.
BOOTSTRAP = "bootstrap"
REGISTRY = "system:registry"

record = AuditTrail(AuditRecord).record
