"""Who is acting, and what they may do to whom.

The gateway passes the verified token's claims (or just ``{"user_id": …}``) as ``actor``.
Identity trusts only the user id and reads roles, unit and status from its own tables, so a
role taken away or an account disabled counts at once, whatever the token still says.
"""
from dataclasses import dataclass

from gongwen_common.audit import Acting

from ..models import User
from .errors import Forbidden, NotFound, PasswordChangeRequired, ProxyNotAllowed, Unauthenticated


@dataclass(frozen=True)
class Actor:
    user_id: str
    unit_code: str
    roles: frozenset
    proxy_user_id: str | None = None  # the proxy (代理人) acting with this user's authority

    @property
    def acting(self) -> Acting:
        """For the audit trail: the principal and, if any, the proxy."""
        return Acting(self.user_id, self.proxy_user_id)

    def require_in_person(self) -> None:
        """Credentials and delegation are personal: a proxy may not change them for the principal."""
        if self.proxy_user_id is not None:
            raise ProxyNotAllowed(message="A proxy may not do this for the principal.")

    @property
    def is_operator(self) -> bool:
        return "operator" in self.roles

    def is_admin_of(self, unit_code: str) -> bool:
        return "admin" in self.roles and self.unit_code == unit_code


def actor_id(actor) -> str | None:
    """The acting principal's id from a user id, ``{"user_id": …}`` or token claims (``sub``)."""
    if isinstance(actor, str):
        return actor
    if isinstance(actor, dict):
        found = actor.get("user_id") or actor.get("sub")
        return found if isinstance(found, str) else None
    return None


def is_system(user_id) -> bool:
    """A unit's department system (its client credentials' subject, ``client:<id>``), not a person."""
    return isinstance(user_id, str) and user_id.startswith("client:")


def resolve_actor(session, actor) -> Actor:
    """The acting user from identity's own tables. A proxy's window is bounded by the token the
    gateway verified (never issued before the window opens, never valid after it closes); here
    both people must still be active members of the same unit."""
    user_id = actor_id(actor)
    if is_system(user_id):
        raise Forbidden(message="A department system may not manage accounts.")
    user = session.get(User, user_id) if user_id else None
    if user is None or user.status != "active":
        raise Unauthenticated(message="The acting user is unknown or not active.")
    proxy_user_id = Acting.of(actor).proxy_user_id
    if proxy_user_id is not None:
        proxy = session.get(User, proxy_user_id)
        if proxy is None or proxy.status != "active" or proxy.unit_code != user.unit_code:
            raise Unauthenticated(message="The acting proxy is unknown or not active.")
    elif user.must_change_password:
        # API.md: every other call answers this until the initial password is changed.
        raise PasswordChangeRequired(message="Change your initial password first.")
    return Actor(user.id, user.unit_code, frozenset(user.roles), proxy_user_id)


def require_operator(actor: Actor) -> None:
    if not actor.is_operator:
        raise Forbidden(message="Only the operator may do this.")


def require_unit_manager(actor: Actor, unit_code: str) -> None:
    """The operator, or the admin of that unit (单位管理员)."""
    if not (actor.is_operator or actor.is_admin_of(unit_code)):
        raise Forbidden(message="Only the unit's admin or the operator may do this.")


def require_manager_of(actor: Actor, user: User) -> None:
    """May ``actor`` manage ``user``'s account? Another unit's user is 404: existence must not leak."""
    if actor.is_operator:
        return
    if user.unit_code != actor.unit_code:
        raise NotFound(message=f"no user {user.id!r}")
    if "admin" not in actor.roles or "operator" in user.roles:
        raise Forbidden(message="Only the unit's admin or the operator may manage this account.")


def visible_user(session, actor: Actor, user_id) -> User:
    """The user if the actor may see it: the operator sees all, others their own unit."""
    user = session.get(User, user_id) if isinstance(user_id, str) else None
    if user is None or not (actor.is_operator or user.unit_code == actor.unit_code):
        raise NotFound(message=f"no user {user_id!r}")
    return user
