"""The seal service's domain errors: stable ``code`` and HTTP ``status`` (API.md), human ``message``."""
from gongwen_common.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    ProxyNotAllowed,
    UnknownUnit,
    ValidationFailed,
)

__all__ = ["Conflict", "DomainError", "Forbidden", "NotFound", "ProxyNotAllowed", "UnknownUnit", "ValidationFailed"]


class InvalidSealState(DomainError):
    """The seal is not in a state that allows this (e.g. approving an active seal, using a revoked one)."""

    code, status = "INVALID_SEAL_STATE", 409


class SealNotActive(DomainError):
    code, status = "SEAL_NOT_ACTIVE", 409


class SealExpired(DomainError):
    code, status = "SEAL_EXPIRED", 409


class InvalidCustody(DomainError):
    code, status = "INVALID_CUSTODY", 422


class InvalidManifest(DomainError):
    """A JSON object the seal will not sign: not in its RFC 8785 canonical form, or issued by another unit."""

    code, status = "INVALID_MANIFEST", 422


class CustodyApprovalRequired(DomainError):
    """Two-person custody: the use needs approvals from distinct custodians within the window."""

    code, status = "CUSTODY_APPROVAL_REQUIRED", 409


class NotACustodian(DomainError):
    code, status = "NOT_A_CUSTODIAN", 403


class DestructionPartyRequired(DomainError):
    code, status = "DESTRUCTION_PARTY_REQUIRED", 403


class InvalidSealImage(DomainError):
    code, status = "INVALID_SEAL_IMAGE", 400
