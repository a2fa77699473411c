"""The first operator (信息化办), created from the command line before any unit exists."""
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gongwen_contracts.identity.schemas import USERNAME

from ..models import BootstrapRecord, UserRole
from . import audit, devices
from .errors import AlreadyBootstrapped, ValidationFailed
from .passwords import PasswordPolicy
from .users import new_account, normalise_username, user_view


def bootstrap_operator(session, username, password, public_key_pem, name, unit_code, policy: PasswordPolicy,
                       now) -> dict:
    """Refused once any operator exists. The unit code is recorded as given: the registry may not
    have the operator's unit yet. The password was chosen by the operator, so it need not change
    at first login."""
    already = AlreadyBootstrapped(message="An operator exists already; bootstrap runs once.")
    if session.get(BootstrapRecord, "operator") is not None or \
            session.scalar(select(UserRole.user_id).where(UserRole.role == "operator").limit(1)) is not None:
        raise already
    problems = {}
    if not isinstance(username, str) or USERNAME.regex.match(username) is None:
        problems["username"] = [USERNAME.error]
    if not isinstance(name, str) or not 0 < len(name.strip()) <= 100:
        problems["name"] = ["1–100 characters"]
    if not isinstance(unit_code, str) or not 0 < len(unit_code) <= 64:
        problems["unit_code"] = ["1–64 characters"]
    if problems:
        raise ValidationFailed(problems)
    username = normalise_username(username)
    device_key = devices.parse_device_key(public_key_pem)
    policy.check(password, username)
    user = new_account(session, username=username, name=name.strip(), unit_code=unit_code, roles=["operator"],
                       mobile=None, password=password, device_key=device_key, status="active",
                       must_change_password=False, created_by=None, now=now)
    session.add(BootstrapRecord(id="operator", user_id=user.id, bootstrapped_at=now))
    try:
        session.flush()
    except IntegrityError:
        raise already from None  # a concurrent bootstrap won
    view = user_view(user)
    audit.record(session, now, audit.BOOTSTRAP, "user_created", "user", user.id, roles=["operator"],
                 unit_code=unit_code)
    session.emit("user_created", {"user": view, "created_by": None}, at=now)
    return view
