"""The archive's domain errors: stable ``code`` and HTTP ``status``, human ``message``."""
from gongwen_common.errors import DomainError


class RetentionNotPassed(DomainError):
    """The package's retention period (保管期限) has not ended: it may not be disposed of yet."""

    code, status = "RETENTION_NOT_PASSED", 409


class KeptPermanently(DomainError):
    """The package is kept permanently (永久): it is never disposed of."""

    code, status = "KEPT_PERMANENTLY", 409
