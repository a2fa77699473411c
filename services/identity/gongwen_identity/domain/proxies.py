"""Proxies (代理人 / 代办人): a user named to act for a principal within a time window; the record
of every act shows both (000 §16, 003 §17)."""
import uuid
from datetime import datetime

from sqlalchemy import func, or_, select

from gongwen_common.audit import Acting
from gongwen_contracts.identity.schemas import PROXY_STATUSES

from ..models import Proxy, User
from . import audit, listing, tokens
from .actors import actor_id, is_system, resolve_actor
from .authentication import user_claims
from .errors import Forbidden, InvalidProxy, NotFound, ProxyNotAllowed, ValidationFailed


def _instant(value, field: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationFailed({field: ["expected an RFC 3339 time with offset"]}) from None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationFailed({field: ["expected an RFC 3339 time with offset"]})
    return value


def proxy_view(proxy: Proxy) -> dict:
    return {"proxy_id": proxy.id, "principal_user_id": proxy.principal_user_id,
            "proxy_user_id": proxy.proxy_user_id, "unit_code": proxy.unit_code,
            "starts_at": proxy.starts_at.isoformat(), "ends_at": proxy.ends_at.isoformat(),
            "set_by": proxy.created_by}


def idempotency_fingerprint(principal_user_id, proxy_user_id, starts_at, ends_at, actor) -> dict:
    return {"principal_user_id": principal_user_id, "proxy_user_id": proxy_user_id, "starts_at": str(starts_at),
            "ends_at": str(ends_at), "actor": actor_id(actor)}


def set_proxy(session, principal_user_id, proxy_user_id, starts_at, ends_at, actor, now) -> dict:
    """The principal names their proxy; the unit admin or the operator may do it for them."""
    actor = resolve_actor(session, actor)
    actor.require_in_person()  # no delegation by a delegate
    starts, ends = _instant(starts_at, "starts_at"), _instant(ends_at, "ends_at")
    principal = session.get(User, principal_user_id) if isinstance(principal_user_id, str) else None
    if principal is None or not (actor.is_operator or principal.unit_code == actor.unit_code):
        raise NotFound(message=f"no user {principal_user_id!r}")
    if not (actor.user_id == principal.id or actor.is_operator or actor.is_admin_of(principal.unit_code)):
        raise Forbidden(message="Only the principal, the unit's admin or the operator may name a proxy.")

    def invalid(reason):
        return InvalidProxy(message=f"Invalid proxy: {reason}.", fields={"proxy": [reason]})

    proxy_user = session.get(User, proxy_user_id) if isinstance(proxy_user_id, str) else None
    if proxy_user_id == principal.id:
        raise invalid("a user cannot be their own proxy")
    if principal.status != "active":
        raise invalid("the principal is not an active user")
    # One reason for unknown, other-unit and inactive proxies: other units' users must not leak.
    if proxy_user is None or proxy_user.unit_code != principal.unit_code or proxy_user.status != "active":
        raise invalid("the proxy must be an active user of the principal's unit")
    if ends <= starts:
        raise invalid("ends_at must be after starts_at")
    if ends <= now:
        raise invalid("the window has already ended")
    proxy = Proxy(id=str(uuid.uuid4()), principal_user_id=principal.id, proxy_user_id=proxy_user.id,
                  unit_code=principal.unit_code, starts_at=starts, ends_at=ends, created_by=actor.user_id,
                  created_at=now)
    session.add(proxy)
    view = proxy_view(proxy)
    audit.record(session, now, actor.acting, "proxy_set", "user", principal.id, **view)
    session.emit("proxy_set", view, at=now)
    return view


def proxy_for(session, proxy_user_id, principal_user_id, now) -> bool:
    """May ``proxy_user_id`` act for ``principal_user_id`` at ``now``? Both must still be active."""
    if not isinstance(proxy_user_id, str) or not isinstance(principal_user_id, str):
        return False
    principal, proxy_user = session.get(User, principal_user_id), session.get(User, proxy_user_id)
    if principal is None or proxy_user is None or principal.unit_code != proxy_user.unit_code:
        return False
    if principal.status != "active" or proxy_user.status != "active":
        return False
    found = session.scalar(select(Proxy.id).where(
        Proxy.principal_user_id == principal_user_id, Proxy.proxy_user_id == proxy_user_id,
        Proxy.starts_at <= now, Proxy.ends_at > now).limit(1))
    return found is not None


def list_proxies(session, actor, now, unit=None, status=None, q=None, limit=50, cursor=None) -> dict:
    """GET /api/v1/proxies; ``q`` is a principal's or a proxy's user id."""
    actor = resolve_actor(session, actor)
    status, q, limit, cursor = listing.checked(status, PROXY_STATUSES, q, limit, cursor)
    query = select(Proxy).where(listing.unit_filter(actor, unit, Proxy.unit_code))
    if status == "upcoming":
        query = query.where(Proxy.starts_at > now)
    elif status == "active":
        query = query.where(Proxy.starts_at <= now, Proxy.ends_at > now)
    elif status == "ended":
        query = query.where(Proxy.ends_at <= now)
    if q is not None:
        query = query.where(or_(Proxy.principal_user_id == q.strip(), Proxy.proxy_user_id == q.strip()))
    return listing.page(session, query, Proxy.id, limit, cursor, proxy_view)


def issue_proxy_token(session, proxy_user_id, principal_user_id, settings, now, actor=None) -> dict:
    """An access token with which the proxy acts for the principal (RFC 8693 ``act`` claim): the
    principal's unit and roles, the proxy named in ``act``, and never valid beyond the window.
    ``actor`` is the caller as the gateway vouches for it: a proxy may not chain to a third person,
    and a department system is no person to act for anyone."""
    if is_system(proxy_user_id) or is_system(actor_id(actor)):
        raise ProxyNotAllowed(message="A department system cannot be a proxy.")
    if Acting.of(actor).by_proxy:
        raise ProxyNotAllowed(message="A proxy may not name a further proxy for the principal.")
    if not proxy_for(session, proxy_user_id, principal_user_id, now):
        raise ProxyNotAllowed(message="You are not this user's proxy at this time.")
    proxy_user, principal = session.get(User, proxy_user_id), session.get(User, principal_user_id)
    if proxy_user.must_change_password or principal.must_change_password:
        raise ProxyNotAllowed(message="Both people must have changed their initial passwords first.")
    window_end = session.scalar(select(func.max(Proxy.ends_at)).where(
        Proxy.principal_user_id == principal.id, Proxy.proxy_user_id == proxy_user.id,
        Proxy.starts_at <= now, Proxy.ends_at > now))
    ttl = min(settings.tokens.access_ttl, window_end - now)
    claims = {**user_claims(principal, False), "act": {"sub": proxy_user.id, "username": proxy_user.username}}
    result = tokens.issue(session, claims, ttl, settings.kek, now)
    audit.record(session, now, Acting(principal.id, proxy_user.id), "proxy_token_issued", "user", principal.id,
                 expires_at=(now + ttl).isoformat())
    return {**result, "principal_user_id": principal.id, "proxy_user_id": proxy_user.id}
