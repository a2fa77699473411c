"""Accounts (实名账号): created on a unit admin's request and approved by the operator (000 §14,
003 §12), disabled at once when their holder leaves (001 §26), passwords reset by the unit admin
or the operator (003 §14), the U_Key replaced when lost."""
import uuid

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from gongwen_common.audit import Acting
from gongwen_common.errors import validated
from gongwen_common.phones import mobile_e164
from gongwen_contracts.identity.schemas import USER_STATUSES, MobileSchema, NewUserSchema

from ..models import User, UserRole
from . import audit, devices, listing, lockout, passwords, tokens
from .actors import actor_id, require_manager_of, require_operator, require_unit_manager, resolve_actor, visible_user
from .errors import (
    Forbidden,
    InvalidPhoneNumber,
    InvalidUserState,
    MobileRequired,
    NotFound,
    UsernameTaken,
    ValidationFailed,
)
from .passwords import PasswordPolicy
from .units import require_open_unit

# 000 §11: the leader and the clerks must give a mobile number (urgent-document SMS).
_MOBILE_REQUIRED = {"leader", "clerk"}


def normalise_username(username) -> str:
    return username.strip().lower() if isinstance(username, str) else ""


def find_by_username(session, username) -> User | None:
    name = normalise_username(username)
    return session.scalar(select(User).where(User.username == name)) if name else None


def normalise_mobile(raw) -> str:
    """A mobile number, mainland China by default, in E.164 (+8613800138000)."""
    number = mobile_e164(raw)
    if number is None:
        raise InvalidPhoneNumber(message=f"{raw!r} is not a valid mobile number.", fields={"mobile": ["invalid"]})
    return number


def idempotency_fingerprint(request, actor) -> dict:
    """What a repeated create_user is compared on. Not the password: the record's unsalted
    fingerprint would let anyone who reads it test guesses at the initial password offline."""
    redacted = {k: v for k, v in request.items() if k != "initial_password"} if isinstance(request, dict) else request
    return {"request": redacted, "actor": actor_id(actor)}


def user_view(user: User) -> dict:
    return {
        "user_id": user.id, "username": user.username, "name": user.name, "unit_code": user.unit_code,
        "roles": user.roles, "mobile": user.mobile, "status": user.status,
        "must_change_password": user.must_change_password, "created_by": user.created_by,
        "created_at": user.created_at.isoformat(),
        "approved_at": user.approved_at and user.approved_at.isoformat(),
        "disabled_at": user.disabled_at and user.disabled_at.isoformat(),
    }


def identity_view(user: User) -> dict:
    """GET /api/v1/me."""
    return {"user_id": user.id, "username": user.username, "name": user.name,
            "unit_code": user.unit_code, "roles": user.roles}


def new_account(session, *, username: str, name: str, unit_code: str, roles, mobile: str | None,
                password: str, device_key: devices.DevicePublicKey, status: str, must_change_password: bool,
                created_by: str | None, now) -> User:
    """Insert a user whose fields are already checked (the password against the policy)."""
    if find_by_username(session, username) is not None:
        raise UsernameTaken(message=f"username {username!r} is taken", fields={"username": ["taken"]})
    user = User(id=str(uuid.uuid4()), username=username, name=name, unit_code=unit_code, mobile=mobile,
                status=status, password_hash=passwords.hash_password(password),
                must_change_password=must_change_password, password_changed_at=now, failed_attempts=0,
                created_by=created_by, created_at=now,
                role_rows=[UserRole(role=role) for role in sorted(set(roles))])
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        # Lost a race with a concurrent create of the same username.
        raise UsernameTaken(message=f"username {username!r} is taken", fields={"username": ["taken"]}) from None
    devices.enrol(session, user.id, device_key, created_by, now)
    return user


def create_user(session, request: dict, actor, policy: PasswordPolicy, now) -> dict:
    """A unit admin's request gives a ``pending`` account; the operator's an ``active`` one.
    Either way the initial password must be changed at first login (003 §14)."""
    actor = resolve_actor(session, actor)
    actor.require_in_person()  # an account is a credential: a proxy's would outlive the window
    data = validated(NewUserSchema(), request if isinstance(request, dict) else {})
    require_unit_manager(actor, data["unit_code"])
    if "operator" in data["roles"] and not actor.is_operator:
        raise Forbidden(message="Only the operator may grant the operator role.")
    require_open_unit(session, data["unit_code"])
    username = normalise_username(data["username"])
    if find_by_username(session, username) is not None:
        raise UsernameTaken(message=f"username {username!r} is taken", fields={"username": ["taken"]})
    mobile = normalise_mobile(data["mobile"]) if data["mobile"] else None
    if mobile is None and _MOBILE_REQUIRED & set(data["roles"]):
        raise ValidationFailed({"mobile": ["a mobile number is required for a leader or a clerk"]})
    device_key = devices.parse_device_key(data["device_public_key"])
    policy.check(data["initial_password"], username)
    user = new_account(session, username=username, name=data["name"], unit_code=data["unit_code"],
                       roles=data["roles"], mobile=mobile, password=data["initial_password"],
                       device_key=device_key, status="active" if actor.is_operator else "pending",
                       must_change_password=True, created_by=actor.user_id, now=now)
    view = user_view(user)
    audit.record(session, now, actor.acting, "user_created", "user", user.id,
                 status=user.status, roles=user.roles, unit_code=user.unit_code)
    session.emit("user_created", {"user": view, "created_by": actor.user_id}, at=now)
    return view


def get_user(session, user_id, actor) -> dict:
    return user_view(visible_user(session, resolve_actor(session, actor), user_id))


def list_users(session, actor, unit=None, status=None, q=None, limit=50, cursor=None) -> dict:
    """GET /api/v1/users: by username; ``q`` finds a part of the username or the name."""
    actor = resolve_actor(session, actor)
    status, q, limit, cursor = listing.checked(status, USER_STATUSES, q, limit, cursor)
    query = select(User).where(listing.unit_filter(actor, unit, User.unit_code))
    if status is not None:
        query = query.where(User.status == status)
    if q is not None:
        query = query.where(or_(User.username.contains(q.strip().lower(), autoescape=True),
                                User.name.contains(q.strip(), autoescape=True)))
    return listing.page(session, query, User.username, limit, cursor, user_view)


def me(session, user_id) -> dict:
    user = session.get(User, user_id) if isinstance(user_id, str) else None
    if user is None:
        raise NotFound(message=f"no user {user_id!r}")
    return identity_view(user)


def _managed_user(session, actor, user_id):
    actor = resolve_actor(session, actor)
    user = session.get(User, user_id) if isinstance(user_id, str) else None
    if user is None:
        raise NotFound(message=f"no user {user_id!r}")
    require_manager_of(actor, user)
    return actor, user


def approve_user(session, user_id, actor, now) -> dict:
    actor = resolve_actor(session, actor)
    require_operator(actor)
    actor.require_in_person()  # approval makes the account's credentials usable
    user = session.get(User, user_id) if isinstance(user_id, str) else None
    if user is None:
        raise NotFound(message=f"no user {user_id!r}")
    if user.status != "pending":
        raise InvalidUserState(message=f"user {user.username!r} is {user.status}, not pending")
    require_open_unit(session, user.unit_code)
    user.status, user.approved_by, user.approved_at = "active", actor.user_id, now
    view = user_view(user)
    audit.record(session, now, actor.acting, "user_approved", "user", user.id)
    session.emit("user_approved", {"user": view, "approved_by": actor.user_id}, at=now)
    return view


def disable(session, user: User, by, reason: str, now) -> bool:
    """Disable at once (001 §26) and end every session of the account; False if already disabled.
    ``by`` is an id or an ``Acting`` (a proxy acting for the unit admin)."""
    if user.status == "disabled":
        return False
    by = Acting.of(by)
    user.status, user.disabled_by, user.disabled_at, user.disabled_reason = "disabled", by.user_id, now, reason
    revoked = tokens.revoke_sessions(session, user.id, "user_disabled", now)
    audit.record(session, now, by, "user_disabled", "user", user.id, reason=reason, revoked_tokens=len(revoked))
    session.emit("user_disabled", {"user": user_view(user), "disabled_by": by.user_id, "reason": reason}, at=now)
    return True


def disable_user(session, user_id, actor, reason, now) -> dict:
    actor, user = _managed_user(session, actor, user_id)
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
        raise ValidationFailed({"reason": ["a reason of at most 500 characters is required"]})
    if user.id == actor.user_id:
        raise Forbidden(message="An account cannot disable itself; ask the unit admin or the operator.")
    disable(session, user, actor.acting, reason.strip(), now)
    return user_view(user)


def reset_password(session, user_id, new_initial_password, actor, policy: PasswordPolicy, now) -> dict:
    """A lost password (003 §14): a new initial password, to be changed at the next login; the
    account's lock and sessions end with the old password."""
    actor, user = _managed_user(session, actor, user_id)
    actor.require_in_person()
    if user.status == "disabled":
        raise InvalidUserState(message=f"user {user.username!r} is disabled")
    policy.check(new_initial_password, user.username)
    user.password_hash = passwords.hash_password(new_initial_password)
    user.must_change_password, user.password_changed_at = True, now
    lockout.clear(session, user.id)
    tokens.revoke_sessions(session, user.id, "password_reset", now)
    audit.record(session, now, actor.acting, "password_reset", "user", user.id)
    session.emit("password_changed", {"user_id": user.id, "username": user.username, "unit_code": user.unit_code,
                                      "changed_by": actor.user_id, "changed_at": now.isoformat(), "reset": True},
                 at=now)
    return user_view(user)


def unlock_user(session, user_id, actor, now) -> dict:
    actor, user = _managed_user(session, actor, user_id)
    lockout.clear(session, user.id)
    audit.record(session, now, actor.acting, "user_unlocked", "user", user.id)
    session.refresh(user)
    return user_view(user)


def replace_device(session, user_id, public_key_pem, actor, now) -> dict:
    """Enrol a new U_Key, e.g. after a loss; the old key and its sessions stop working at once."""
    actor, user = _managed_user(session, actor, user_id)
    actor.require_in_person()
    if user.status == "disabled":
        raise InvalidUserState(message=f"user {user.username!r} is disabled")
    key = devices.parse_device_key(public_key_pem)
    device = devices.enrol(session, user.id, key, actor.user_id, now)
    tokens.revoke_sessions(session, user.id, "device_replaced", now)
    audit.record(session, now, actor.acting, "device_replaced", "user", user.id,
                 device_id=device.id, fingerprint=key.fingerprint)
    return {**user_view(user), "device": {"device_id": device.id, "fingerprint": key.fingerprint}}


def change_mobile(session, user_id, request, actor, now) -> dict:
    """Change the account's mobile (the unit's admin, or the operator): the one number notify sends
    to, announced as ``user_mobile_changed``. A leader or a clerk keeps one (000 §11)."""
    actor, user = _managed_user(session, actor, user_id)
    data = validated(MobileSchema(), request if isinstance(request, dict) else {})
    if user.status == "disabled":
        raise InvalidUserState(message=f"user {user.username!r} is disabled")
    mobile = normalise_mobile(data["mobile"]) if data["mobile"] is not None else None
    if mobile is None and _MOBILE_REQUIRED & set(user.roles):
        raise MobileRequired(message="A leader or a clerk keeps a mobile number.",
                             fields={"mobile": ["a mobile number is required for a leader or a clerk"]})
    if mobile == user.mobile:
        return user_view(user)  # no change: nothing announced
    user.mobile = mobile
    audit.record(session, now, actor.acting, "user_mobile_changed", "user", user.id)
    session.emit("user_mobile_changed", {"user": user_view(user), "changed_by": actor.user_id}, at=now)
    return user_view(user)


def disable_unit_members(session, unit_code: str, by: str, now) -> list[str]:
    """A revoked unit's users are disabled (003 §10(二))."""
    disabled = []
    for user in list(session.scalars(select(User).where(User.unit_code == unit_code, User.status != "disabled"))):
        if disable(session, user, by, "unit revoked", now):
            disabled.append(user.id)
    return disabled


def active_members(session, unit_code, user_ids) -> list[str]:
    if not isinstance(unit_code, str) or not isinstance(user_ids, list) or len(user_ids) > 1000:
        raise ValidationFailed({"user_ids": ["a list of at most 1,000 user ids"]})
    wanted = [u for u in user_ids if isinstance(u, str)]
    found = set(session.scalars(select(User.id).where(User.id.in_(wanted), User.unit_code == unit_code,
                                                      User.status == "active")))
    return [u for u in wanted if u in found]


def members_with_mobiles(session, unit_code, user_ids) -> dict:
    """``{user_id: has_mobile}`` for those of ``user_ids`` who are active users of ``unit_code``
    (the registry's check of a unit's filed contacts; the number itself stays here)."""
    active = set(active_members(session, unit_code, user_ids))
    rows = session.execute(select(User.id, User.mobile).where(User.id.in_(active))) if active else []
    return {user_id: bool(mobile) for user_id, mobile in rows}
