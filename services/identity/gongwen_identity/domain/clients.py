"""Client credentials of a unit's department system (its own OA software, 部门业务系统).

The secret is 32 random bytes (URL-safe base64), shown once and stored argon2-hashed: a leak of
the identity database does not hand out department systems' access.
"""
import secrets
import uuid

from sqlalchemy import select

from ..models import Client, UnitView
from . import audit, passwords, tokens
from .actors import require_unit_manager, resolve_actor
from .errors import AccountDisabled, InvalidCredentials, InvalidUserState, NotFound
from .policies import IdentitySettings
from .units import require_open_unit

SYSTEM_ROLE = "system"


def subject(client_id: str) -> str:
    return f"client:{client_id}"


def create_client(session, unit_code, actor, now) -> dict:
    actor = resolve_actor(session, actor)
    require_unit_manager(actor, unit_code)
    require_open_unit(session, unit_code)
    secret = secrets.token_urlsafe(32)
    client = Client(id=str(uuid.uuid4()), unit_code=unit_code, secret_hash=passwords.hash_password(secret),
                    status="active", created_by=actor.user_id, created_at=now)
    session.add(client)
    audit.record(session, now, actor.acting, "client_created", "client", client.id, unit_code=unit_code)
    return {"client_id": client.id, "client_secret": secret, "unit_code": unit_code}


def _managed_client(session, client_id, actor):
    client = session.get(Client, client_id) if isinstance(client_id, str) else None
    if client is None or not (actor.is_operator or client.unit_code == actor.unit_code):
        raise NotFound(message=f"no client {client_id!r}")
    require_unit_manager(actor, client.unit_code)
    return client


def rotate_client(session, client_id, actor, now) -> dict:
    """A new secret; the old one and the tokens it obtained stop working at once."""
    actor = resolve_actor(session, actor)
    client = _managed_client(session, client_id, actor)
    if client.status != "active":
        raise InvalidUserState(message=f"client {client.id!r} is {client.status}")
    require_open_unit(session, client.unit_code)
    secret = secrets.token_urlsafe(32)
    client.secret_hash, client.rotated_by, client.rotated_at = passwords.hash_password(secret), actor.user_id, now
    tokens.revoke_sessions(session, subject(client.id), "client_rotated", now)
    audit.record(session, now, actor.acting, "client_rotated", "client", client.id)
    return {"client_id": client.id, "client_secret": secret, "unit_code": client.unit_code}


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
        raise AccountDisabled(message="This client's unit is revoked or the client is disabled.")
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
