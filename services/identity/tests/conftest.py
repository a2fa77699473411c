"""Worker-test fixtures for identity: nameko's ``worker_factory`` on SQLite, a clock the test moves,
real keys and real crypto.

argon2 is deliberately slow, so the standard cast (units, the operator, a few users) is made once
per test session through the real service and copied into each test's fresh database with
SQLite's backup API instead of being hashed again for every test.
"""
import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from nameko.testing.services import worker_factory
from sqlalchemy import create_engine, delete, select
from sqlalchemy.orm import sessionmaker

from conftest import at_once
from gongwen_common.clock import MovableClock
from gongwen_common.db import Session as OutboxSession
from gongwen_common.errors import DomainError
from gongwen_common.tables import InfraBase, OutboxEvent
from gongwen_identity.models import Base, UnitView, User
from gongwen_identity.service import IdentityService

KEK = base64.b64encode(bytes(range(32))).decode()
CONFIG = {"IDENTITY_KEK": KEK}
PASSWORDS = {"operator": "Harbour#2026sky", "alice": "Lantern#2026red", "bob": "Willow$2026lake",
             "carol": "Granite!2026hill", "dave": "Compass%2026east"}


def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(private_key) -> str:
    return private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def sign(private_key, nonce_b64: str) -> str:
    return base64.b64encode(private_key.sign(base64.b64decode(nonce_b64), ec.ECDSA(hashes.SHA256()))).decode()


def unit_event(event_type, unit, event_id=None):
    data = unit if event_type == "unit_registered" else {"unit": unit}
    return {"event_id": event_id or f"{event_type}-{unit['code']}-{unit['version']}",
            "event_type": event_type, "occurred_at": "2026-11-21T08:00:00+00:00", "data": data}


def unit(code, name=None, status="active", version=1):
    """A unit view as the registry's events carry it."""
    return {"code": code, "name": name or f"单位 {code}", "kind": "department", "parent_code": None,
            "status": status, "former_names": [], "sms_enabled": False, "version": version}


class World:
    """One test's identity service: each call commits on success and rolls back on a domain error,
    as the real RPC entrypoint does, so a test sees exactly what would have been kept."""

    new_key, sign, public_pem = staticmethod(new_key), staticmethod(sign), staticmethod(public_pem)

    def __init__(self, session, clock, keys, config=None):
        self.session, self.clock, self.keys = session, clock, keys
        self.passwords = dict(PASSWORDS)
        self.service = self.service_with(config or {})

    def service_with(self, config):
        return worker_factory(IdentityService, db=self.session, config={**CONFIG, **config}, clock=self.clock)

    def call(self, method, *args, service=None, **kwargs):
        result = getattr(service or self.service, method)(*args, **kwargs)
        self.session.commit()
        return result

    def refused(self, method, *args, service=None, **kwargs) -> DomainError:
        with pytest.raises(DomainError) as caught:
            getattr(service or self.service, method)(*args, **kwargs)
        self.session.rollback()
        return caught.value

    def user(self, username) -> User:
        self.session.expire_all()
        return self.session.scalar(select(User).where(User.username == username))

    def actor(self, username) -> dict:
        return {"user_id": self.user(username).id}

    def login(self, username, password=None, key=None, service=None):
        challenge = self.call("issue_challenge", {"username": username}, service=service)
        signature = sign(key or self.keys[username], challenge["nonce"])
        password = self.passwords[username] if password is None else password
        return self.call("login", {"username": username, "password": password,
                                   "challenge_id": challenge["challenge_id"], "signature": signature}, service=service)

    def login_refused(self, username, password=None, key=None, service=None) -> DomainError:
        challenge = self.call("issue_challenge", {"username": username}, service=service)
        signature = sign(key or self.keys.get(username) or new_key(), challenge["nonce"])
        password = self.passwords.get(username) if password is None else password
        return self.refused("login", {"username": username, "password": password,
                                      "challenge_id": challenge["challenge_id"], "signature": signature},
                            service=service)

    def unit_changed(self, event_type, code, status="active", version=None, name=None):
        """Deliver a registry unit event to its handler, as the broker would (by default the
        unit's next version)."""
        if version is None:
            version = (self.session.get(UnitView, code).version if self.session.get(UnitView, code) else 0) + 1
        envelope = unit_event(event_type, unit(code, name, status, version))
        return self.call("on_" + event_type, envelope)

    def events(self, event_type):
        return [e.payload["data"] for e in self.session.scalars(
            select(OutboxEvent).where(OutboxEvent.event_type == event_type).order_by(OutboxEvent.id))]

    def new_user(self, username, roles=("staff",), unit_code="gz-fgw", actor="operator", **fields):
        key = self.keys.setdefault(username, new_key())
        self.passwords.setdefault(username, f"Orchid#2026-{len(username)}q")
        request = {"username": username, "name": f"用户 {username}", "unit_code": unit_code, "roles": list(roles),
                   "mobile": "13800138000", "initial_password": self.passwords[username],
                   "device_public_key": public_pem(key), **fields}
        return self.call("create_user", request, self.actor(actor))


@pytest.fixture(scope="session")
def cast():
    """The standard cast, created once through the real service: units gz-fgw and gz-cz (active),
    the bootstrapped operator, staff alice and bob (gz-fgw) and carol (gz-cz), all still on their
    initial passwords, and dave, gz-fgw's admin, who has changed his."""
    engine = create_engine("sqlite://")
    InfraBase.metadata.create_all(engine)
    Base.metadata.create_all(engine)
    session = OutboxSession(engine)
    keys = {name: new_key() for name in PASSWORDS}
    world = World(session, MovableClock(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)), keys)
    for code in ("gz-fgw", "gz-cz"):
        world.call("on_unit_registered", unit_event("unit_registered", unit(code)))
    world.call("bootstrap_operator", "operator", PASSWORDS["operator"], public_pem(keys["operator"]),
               name="信息化办 值班员", unit_code="operator")
    world.passwords["dave"] = "Beacon#2026west"
    for name, unit_code, roles in (("alice", "gz-fgw", ["staff"]), ("bob", "gz-fgw", ["staff"]),
                                   ("carol", "gz-cz", ["staff"]), ("dave", "gz-fgw", ["admin"])):
        world.new_user(name, roles, unit_code)
    world.call("change_password", world.user("dave").id, {"old_password": "Beacon#2026west",
                                                          "new_password": PASSWORDS["dave"]})
    session.execute(delete(OutboxEvent))  # each test sees only the events it caused
    session.commit()
    raw = engine.raw_connection()
    yield raw.driver_connection, keys
    raw.close()
    session.close()


@pytest.fixture
def world(sqlite_session, cast):
    template, keys = cast
    session = sqlite_session(Base)
    template.backup(session.connection().connection.driver_connection)
    session.rollback()
    return World(session, MovableClock(datetime.now(UTC).replace(microsecond=0)), dict(keys))


# For concurrency on PostgreSQL: high enough that no lock interferes with counting N failures.
LENIENT = {"IDENTITY_LOCKOUT_MAX_FAILURES": "100"}


class PostgresWorld(World):
    def __init__(self, sessions, clock, keys):
        self.sessions = sessions
        super().__init__(sessions(), clock, keys, LENIENT)

    def concurrently(self, calls):
        """Run each ``(method, args)`` in its own worker and session at the same moment; commit
        what succeeds, keep what a refusal committed, as the RPC entrypoint does. Returns each
        result or the DomainError it raised; anything else (an IntegrityError: a 500) fails."""
        def run(method, args):
            session = self.sessions()
            service = worker_factory(IdentityService, db=session, config={**CONFIG, **LENIENT}, clock=self.clock)
            try:
                result = getattr(service, method)(*args)
                session.commit()
                return result
            except Exception:  # a DomainError is a refusal; anything else is reported as the failure it is
                session.rollback()
                raise
            finally:
                session.close()

        results = at_once([lambda method=method, args=args: run(method, args) for method, args in calls])
        crashes = [r for r in results if isinstance(r, Exception) and not isinstance(r, DomainError)]
        assert not crashes, crashes
        return results


@pytest.fixture
def pg_world(postgres):
    name = f"identity_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    engine = create_engine(postgres.url(name), pool_size=12)
    InfraBase.metadata.create_all(engine)
    Base.metadata.create_all(engine)
    sessions = sessionmaker(engine, class_=OutboxSession, expire_on_commit=False)
    keys = {"operator": new_key(), "alice": new_key()}
    world = PostgresWorld(sessions, MovableClock(datetime.now(UTC).replace(microsecond=0)), keys)
    world.call("on_unit_registered", unit_event("unit_registered", unit("gz-fgw")))
    world.call("bootstrap_operator", "operator", PASSWORDS["operator"], public_pem(keys["operator"]))
    world.new_user("alice")
    yield world
    world.session.close()
    engine.dispose()


