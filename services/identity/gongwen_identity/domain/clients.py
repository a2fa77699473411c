"""Client credentials of a unit's department system (its own OA software, 部门业务系统).

The secret is 32 random bytes (URL-safe base64), shown once and stored argon2-hashed: a leak of
the identity database does not hand out department systems' access.
"""
import secrets
import uuid

from sqlalchemy import select

from gongwen_contracts.identity.schemas import CLIENT_STATUSES

from ..models import Client, UnitView
from . import audit, listing, passwords, tokens
from .actors import require_unit_manager, resolve_actor
from .errors import AccountDisabled, InvalidCredentials, InvalidUserState, NotFound
from .policies import IdentitySettings
from .units import require_open_unit

SYSTEM_ROLE = "system"


def subject(client_id: str) -> str:
    return f"client:{client_id}"


def client_view(client: Client) -> dict:
    """What a listing shows: never the secret, nor its hash."""
    return {"client_id": client.id, "unit_code": client.unit_code, "status": client.status,
            "created_by": client.created_by, "created_at": client.created_at.isoformat(),
            "rotated_at": client.rotated_at and client.rotated_at.isoformat(),
            "revoked_by": client.revoked_by, "revoked_at": client.revoked_at and client.revoked_at.isoformat()}


def create_client(session, unit_code, actor, now) -> dict:
    actor = resolve_actor(session, actor)
    actor.require_in_person()  # the secret outlives any proxy's window
    require_unit_manager(actor, unit_code)
    require_open_unit(session, unit_code)
    secret = secrets.token_urlsafe(32)
    client = Client(id=str(uuid.uuid4()), unit_code=unit_code, secret_hash=passwords.hash_password(secret),
                    status="active", created_by=actor.user_id, created_at=now)
    session.add(client)
    audit.record(session, now, actor.acting, "client_created", "client", client.id, unit_code=unit_code)
    return {"client_id": client.id, "client_secret": secret, "unit_code": unit_code}


def _managed_client(session, client_id, actor, unit_code=None):
    """``unit_code``: the unit the path names; a client of another unit is not found there."""
    client = session.get(Client, client_id) if isinstance(client_id, str) and len(client_id) <= 36 else None
    if client is None or not (actor.is_operator or client.unit_code == actor.unit_code) or \
            unit_code not in (None, client.unit_code):
        raise NotFound(message=f"no client {client_id!r}")
    require_unit_manager(actor, client.unit_code)
    return client


def rotate_client(session, client_id, actor, now) -> dict:
    """A new secret; the old one and the tokens it obtained stop working at once."""
    actor = resolve_actor(session, actor)
    actor.require_in_person()
    client = _managed_client(session, client_id, actor)
    if client.status != "active":
        raise InvalidUserState(message=f"client {client.id!r} is {client.status}")
    require_open_unit(session, client.unit_code)
    secret = secrets.token_urlsafe(32)
    client.secret_hash, client.rotated_by, client.rotated_at = passwords.hash_password(secret), actor.user_id, now
    tokens.revoke_sessions(session, subject(client.id), "client_rotated", now)
    audit.record(session, now, actor.acting, "client_rotated", "client", client.id)
    return {"client_id": client.id, "client_secret": secret, "unit_code": client.unit_code}


def revoke_client(session, unit_code, client_id, actor, now) -> dict:
    """DELETE /api/v1/units/{code}/clients/{client_id}: its secret issues no more tokens and the
    tokens it already has are revoked. Done in person, like creating one: a proxy could otherwise
    cut a unit's system off, and revoking is how a leaked secret is answered. Revoking a revoked
    client answers the same again."""
    actor = resolve_actor(session, actor)
    actor.require_in_person()
    client = _managed_client(session, client_id, actor, unit_code)
    if client.status != "revoked":
        client.status, client.revoked_by, client.revoked_at = "revoked", actor.user_id, now
        revoked = tokens.revoke_sessions(session, subject(client.id), "client_revoked", now)
        audit.record(session, now, actor.acting, "client_revoked", "client", client.id, unit_code=client.unit_code,
                     revoked_tokens=len(revoked))
    return client_view(client)


def list_clients(session, unit_code, actor, status=None, q=None, limit=50, cursor=None) -> dict:
    """GET /api/v1/units/{code}/clients: the unit's admin or the operator; ``q`` finds a part of
    the client id."""
    actor = resolve_actor(session, actor)
    if not isinstance(unit_code, str) or not (actor.is_operator or actor.unit_code == unit_code):
        raise NotFound(message=f"no unit {unit_code!r}")
    require_unit_manager(actor, unit_code)
    status, q, limit, cursor = listing.checked(status, CLIENT_STATUSES, q, limit, cursor)
    query = select(Client).where(Client.unit_code == unit_code)
    if status is not None:
        query = query.where(Client.status == status)
    if q is not None:
        query = query.where(Client.id.contains(q.strip(), autoescape=True))
    return listing.page(session, query, Client.id, limit, cursor, client_view)


def client_token(session, client_id, client_secret, settings: IdentitySettings, now) -> dict:
    """POST /api/v1/auth/token: the same answer as a login, for the unit's system account."""
    client = session.get(Client, client_id) if isinstance(client_id, str) and len(client_id) <= 36 else None
    if client is None:
        passwords.verify_unknown(client_secret)  # an unknown id costs what a wrong secret costs
        raise InvalidCredentials(message="The client id or secret is wrong.")
    if not passwords.verify_password(client.secret_hash, client_secret):
        raise InvalidCredentials(message="The client id or secret is wrong.")
    unit = session.get(UnitView, client.unit_code)
    if client.status != "active" or unit is None or unit.status == "revoked":
        raise AccountDisabled(message="This client is revoked, or disabled with its unit.")
    claims = {"sub": subject(client.id), "username": subject(client.id), "unit": client.unit_code,
              "roles": [SYSTEM_ROLE], "pwd": False}
    return tokens.issue(session, claims, settings.tokens.access_ttl, settings.kek, now)


def disable_unit_clients(session, unit_code: str, by: str, now) -> list[str]:
    disabled = []
    for client in list(session.scalars(select(Client).where(Client.unit_code == unit_code,
                                                            Client.status == "active"))):
        client.status = "disabled"
        tokens.revoke_sessions(session, subject(client.id), "unit_revoked", now)
        audit.record(session, now, by, "client_disabled", "client", client.id, reason="unit revoked")
        disabled.append(client.id)
    return disabled
