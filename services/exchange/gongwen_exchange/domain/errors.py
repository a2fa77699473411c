"""The exchange's domain errors: stable ``code`` and HTTP ``status`` (API.md), human ``message``."""
from gongwen_common.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    UnknownUnit,
    ValidationFailed,
)

__all__ = ["Conflict", "DomainError", "Forbidden", "NotFound", "PayloadTooLarge", "UnknownUnit", "ValidationFailed"]


class ClassifiedNotAllowed(DomainError):
    """Only non-classified documents may travel here (000 §25, 001 §5, 002 §6, 003 §50)."""

    code, status = "CLASSIFIED_NOT_ALLOWED", 422


class DocNumberTaken(DomainError):
    code, status = "DOC_NUMBER_TAKEN", 409


class SealInvalid(DomainError):
    """Sign-for re-verifies the seal; a document that fails is refused and nothing changes."""

    code, status = "SEAL_INVALID", 409


class InvalidReceiptState(DomainError):
    code, status = "INVALID_RECEIPT_STATE", 409


class PrintNotGranted(DomainError):
    code, status = "PRINT_NOT_GRANTED", 409


class RecallNotAllowed(DomainError):
    code, status = "RECALL_NOT_ALLOWED", 409


class InvalidCalendar(DomainError):
    """A year's holiday schedule that lists a date of another year, or a date twice."""

    code, status = "INVALID_CALENDAR", 422
