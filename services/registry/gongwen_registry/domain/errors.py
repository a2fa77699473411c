"""The registry's refusals, each with a stable code and HTTP status (see API.md, Units)."""
from gongwen_common.errors import Conflict, DomainError, MobileRequired, NotFound  # noqa: F401 (raised here)


class UnitNotFound(NotFound):
    code = "UNIT_NOT_FOUND"


class UnitCodeTaken(Conflict):
    code = "UNIT_CODE_TAKEN"


class UnknownParentUnit(DomainError):
    code, status = "UNKNOWN_PARENT_UNIT", 422


class UnitNotApplied(Conflict):
    """Only an application (申请) can be approved."""

    code = "UNIT_NOT_APPLIED"


class UnitNotApproved(Conflict):
    """The unit is still an application: it has no contacts to file and cannot absorb others."""

    code = "UNIT_NOT_APPROVED"


class NameUnchanged(Conflict):
    """A rename to the name the unit already bears: a well-formed request the unit's state refuses."""

    code = "NAME_UNCHANGED"


class UnitRevoked(Conflict):
    """The unit was revoked (撤销); it stays readable but can no longer change."""

    code = "UNIT_REVOKED"


class UnknownSuccessorUnit(DomainError):
    code, status = "UNKNOWN_SUCCESSOR_UNIT", 422


class InvalidSuccessor(DomainError):
    code, status = "INVALID_SUCCESSOR", 422


class MergeIntoSelf(DomainError):
    code, status = "MERGE_INTO_SELF", 422



class NotUnitMembers(DomainError):
    """Contacts name people identity does not know as active users of the unit (a fact about other
    accounts, not the body's shape)."""

    code, status = "NOT_UNIT_MEMBERS", 422
