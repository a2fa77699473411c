"""Fixtures for every suite: a real RabbitMQ node and PostgreSQL cluster per test session,
and stacks of real service processes, each stack on its own vhost and databases.

nameko code runs on eventlet; patch before anything imports sockets (``nameko run`` does the
same for the service processes).
"""
import warnings

warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

import base64  # noqa: E402
import errno  # noqa: E402
import hashlib  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import uuid  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import greenlet  # noqa: E402
import pytest  # noqa: E402
import requests  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from sqlalchemy import create_engine, select, text  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from gongwen_common.db import Session as OutboxSession  # noqa: E402
from gongwen_common.tables import InfraBase  # noqa: E402
from gongwen_local.backup import sqlite_urls  # noqa: E402
from gongwen_local.ports import free_port  # noqa: E402
from gongwen_local.postgres import PostgresCluster  # noqa: E402
from gongwen_local.rabbitmq import RabbitCluster, RabbitNode  # noqa: E402
from gongwen_local.stack import ROOT, SERVICES, Stack  # noqa: E402

# Faster retries and relay polling than production defaults, so failure tests stay short.
TEST_ENV = {"EVENT_RETRY_BASE_DELAY": "0.05", "OUTBOX_POLL_INTERVAL": "0.5", "RPC_TIMEOUT": "5",
            # every test signs in from 127.0.0.1: the login rate limit has its own test
            "AUTH_RATE_PER_MINUTE": "100000", "AUTH_RATE_BURST": "100000",
            # Key-encryption keys of the test stacks, fixed (this module may be imported twice), not the
            # services' development fallback; tests that look at stored keys read them here.
            "IDENTITY_KEK": base64.b64encode(hashlib.sha256(b"gongwen tests: identity KEK").digest()).decode(),
            "SEAL_KEK": base64.b64encode(hashlib.sha256(b"gongwen tests: seal KEK").digest()).decode(),
            "ARCHIVE_KEK": base64.b64encode(hashlib.sha256(b"gongwen tests: archive KEK").digest()).decode()}


# A test over its time fails alone, named, with its own stack, and the session goes on to stop its servers.
# pytest-timeout cannot do this under eventlet: it finds a green main thread, falls back to its thread method,
# and that timer, itself a greenlet, prints only its own stack and ends the process, servers and all.
TIMEOUT_GRACE = 60.0  # after the failure is raised, the test's own cleanup may take this long
_REAL_THREADING = eventlet.patcher.original("threading")


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item, settings):
    test = greenlet.getcurrent()  # every test runs in the main greenlet; the hub and green threads are others
    main_thread = _REAL_THREADING.get_ident()
    terminal = item.config.get_terminal_writer()

    def test_stack(frame) -> str:
        if greenlet.getcurrent() is not test:
            # suspended: its frame; running (seen from the backstop's thread): the main thread's frame
            frame = test.gr_frame or sys._current_frames().get(main_thread)
        return "".join(traceback.format_stack(frame)[-12:])  # the test's end of it, not pytest's

    def fail(signum, frame):
        __tracebackhide__ = True
        failure = pytest.fail.Exception(f"Timeout >{settings.timeout:.0f}s in {item.nodeid}, "
                                        f"waiting in:\n{test_stack(frame)}")
        if greenlet.getcurrent() is test:
            raise failure
        # The signal interrupted the hub (or a green thread): raising here would end that greenlet, not
        # the test. The test's greenlet gets the failure; the interrupted one resumes when next switched to.
        interrupted = greenlet.getcurrent()
        test.throw(failure)
        if interrupted is eventlet.hubs.get_hub().greenlet and frame.f_code.co_name == "do_poll":
            # the hub's poll would resume with the timeout it computed before the test failed, blind to
            # the timers added since; the hub takes EINTR from its poll (only there) as "compute again"
            raise InterruptedError(errno.EINTR, "test timed out")

    def give_up():  # a real thread: it runs even if the test is stuck in C code that never returns
        capture = item.config.pluginmanager.getplugin("capturemanager")
        if capture:
            capture.suspend_global_capture(item)
        terminal.sep("+", f"Timeout: {item.nodeid} did not end {TIMEOUT_GRACE:.0f}s after failing")
        terminal.write(test_stack(None))
        terminal.sep("+", f"Timeout: {item.nodeid}")
        sys.stdout.flush()
        os._exit(1)

    backstop = _REAL_THREADING.Timer(settings.timeout + TIMEOUT_GRACE, give_up)
    backstop.daemon = True

    def cancel():
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        backstop.cancel()

    item.cancel_timeout = cancel  # pytest-timeout's own cancel hook calls it
    signal.signal(signal.SIGALRM, fail)
    signal.setitimer(signal.ITIMER_REAL, settings.timeout)
    backstop.start()
    return True


def wait_until(predicate, timeout=30.0, interval=0.2, message="condition"):
    """Poll a condition on real processes (never a fixed sleep standing in for a result)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def wait_for_all(count, total, stall=60.0, ceiling=600.0, interval=0.5, message="work"):
    """Wait for ``count()`` to reach ``total`` while it keeps moving: a loaded machine may take long,
    but ``stall`` seconds without progress means stuck, and the failure says how far it got."""
    started = last_move = time.monotonic()
    seen = count()
    while seen < total:
        now = time.monotonic()
        if now - last_move > stall or now - started > ceiling:
            why = f"no progress for {now - last_move:.0f}s" if now - last_move > stall else f"{ceiling:.0f}s ceiling"
            raise AssertionError(f"{message}: {seen} of {total} after {now - started:.0f}s ({why})")
        time.sleep(interval)
        current = count()
        if current != seen:
            seen, last_move = current, time.monotonic()
    return seen


def log_tail(stack, service, lines=30) -> str:
    """The last lines of each of a service's process logs: what a failed wait shows beside its count."""
    tails = []
    for process in (p for p in stack.processes if p.name == service):
        text = process.log_path.read_text(errors="replace").splitlines() if process.log_path.exists() else []
        tails.append(f"--- {process.log_path}\n" + "\n".join(text[-lines:]))
    return "\n".join(tails)


def register(api, code, key=None):
    headers = {"Idempotency-Key": key} if key else {}
    return api.post("/api/v1/units", json={"code": code, "name": f"单位 {code}", "kind": "department"},
                    headers=headers)


def everywhere(dbs, code, timeout=30):
    """Wait until every consumer's read model has the unit; return the revisions."""
    return wait_until(lambda: (r := dbs.unit_revisions(code)) and all(r.values()) and r,
                      timeout=timeout, message=f"{code} in every read model")


def at_once(calls, timeout=120.0) -> list:
    """Run the zero-argument ``calls`` truly concurrently: each in its own thread, released together
    at a barrier. Their answers in order; a call that raised answers its exception."""
    barrier, answers = threading.Barrier(len(calls)), [None] * len(calls)

    def run(index, call):
        barrier.wait()
        try:
            answers[index] = call()
        except Exception as exc:  # noqa: BLE001 - the caller judges every outcome
            answers[index] = exc

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return answers


def committed(engine, work):
    """A call for :func:`at_once`: ``work(session)`` in a session of its own, committed when it
    returns, rolled back (and the exception raised again) when it fails."""
    def call():
        with OutboxSession(engine) as session:
            try:
                answer = work(session)
                session.commit()
                return answer
            except Exception:
                session.rollback()
                raise
    return call


# -- U_Key login, as a department system or the CLI does it ----------------------------------

def device_key():
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def challenge(api, username):
    reply = api.post("/api/v1/auth/challenge", json={"username": username})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert len(base64.b64decode(body["nonce"])) >= 32
    return body


def signed(key, nonce_b64):
    return base64.b64encode(key.sign(base64.b64decode(nonce_b64), ec.ECDSA(hashes.SHA256()))).decode()


def login(api, username, password, key, issued=None):
    issued = issued or challenge(api, username)
    return api.post("/api/v1/auth/login", json={"username": username, "password": password,
                                                 "challenge_id": issued["challenge_id"],
                                                 "signature": signed(key, issued["nonce"])})


class WorkerCalls:
    """For worker tests (``self.service`` from ``worker_factory``, ``self.session``): each call
    commits on success and rolls back on a domain error, as the RPC entrypoint does, so a test
    sees exactly what would have been kept."""

    def call(self, method, *args, **kwargs):
        result = getattr(self.service, method)(*args, **kwargs)
        self.session.commit()
        return result

    def refused(self, method, *args, **kwargs):
        from gongwen_common.errors import DomainError

        with pytest.raises(DomainError) as caught:
            getattr(self.service, method)(*args, **kwargs)
        self.session.rollback()
        return caught.value

    def events(self, event_type) -> list[dict]:
        """The ``data`` of the outbox rows of ``event_type``, oldest first."""
        from gongwen_common.tables import OutboxEvent

        return [e.payload["data"] for e in self.session.scalars(
            select(OutboxEvent).where(OutboxEvent.event_type == event_type).order_by(OutboxEvent.id))]


@pytest.fixture
def sqlite_session():
    """``sqlite_session(*model_bases)``: an in-memory database with the infrastructure tables
    and the given models, for worker tests (nameko's ``worker_factory``, no broker)."""
    sessions = []

    def make(*bases):
        engine = create_engine("sqlite://")
        for metadata in (InfraBase.metadata, *(base.metadata for base in bases)):
            metadata.create_all(engine)
        sessions.append(OutboxSession(engine))
        return sessions[-1]

    yield make
    for session in sessions:
        session.close()


@pytest.fixture(scope="session")
def test_var():
    path = ROOT / "var" / "test" / uuid.uuid4().hex[:8]
    path.mkdir(parents=True)
    yield path
    for child in path.iterdir():  # keep the service logs for reading after a failure
        if child.name != "logs":
            shutil.rmtree(child, ignore_errors=True)


@pytest.fixture(scope="session")
def rabbit(test_var):
    node = RabbitNode(test_var / "rabbit", node_name=f"gwtest{test_var.name}")
    node.start()
    yield node
    node.crash()  # thrown away with test_var: a clean stop takes six seconds and proves nothing here


@pytest.fixture(scope="session")
def rabbit_cluster(test_var):
    """A 3-node RabbitMQ cluster, started only for the tests that ask for it (``make_stack(rabbit=…)``)."""
    cluster = RabbitCluster(test_var / "rabbit-cluster", 3, node_name=f"gwclu{test_var.name}")
    cluster.start()
    yield cluster
    cluster.crash()  # thrown away with test_var, as the session's single node


@pytest.fixture(scope="session")
def postgres(test_var):
    cluster = PostgresCluster(test_var / "postgres")
    cluster.start()
    yield cluster
    cluster.stop()


class StackFactory:
    def __init__(self, rabbit, postgres, log_dir, env=None):
        self.rabbit, self.postgres, self.log_dir = rabbit, postgres, log_dir
        self.env = env or {}  # e.g. the fake Twilio's settings, for every stack
        self.stacks = []

    def __call__(self, start=True, scale=None, env=None, rabbit=None, sqlite=False):
        """A stack on its own vhost, with a PostgreSQL database per service, or (``sqlite``) the
        embedded default of ``make run``: a file per service."""
        tag = uuid.uuid4().hex[:8]
        node = rabbit or self.rabbit
        node.add_vhost(tag)
        if sqlite:
            var = self.log_dir.parent / f"sqlite-{tag}"
            (var / "db").mkdir(parents=True)
            databases = sqlite_urls(var)
        else:
            databases = {}
            for service in SERVICES:
                self.postgres.create_database(f"t{tag}_{service}")
                databases[service] = self.postgres.url(f"t{tag}_{service}")
        stack = Stack(node.amqp_uri(tag), databases, free_port(), self.log_dir / tag,
                      scale=scale or {}, env={**TEST_ENV, **self.env, **(env or {})})
        self.stacks.append(stack)
        if start:
            stack.start()
        return stack

    def close(self):
        for stack in self.stacks:
            stack.stop()

    def serving(self, **kwargs):
        """For a fixture, ``yield from factory.serving(...)``: one stack, stopped afterwards even when
        it never became healthy (a failed start must not leave its processes running)."""
        try:
            yield self(**kwargs)
        finally:
            self.close()


@pytest.fixture(scope="session")
def fake_twilio(test_var):
    """The fake Twilio server every stack's notify sends to (``gongwen_fake_twilio``), one per session:
    tests that count what it received reset it or use numbers of their own."""
    from gongwen_fake_twilio.launcher import FakeTwilioProcess

    fake = FakeTwilioProcess(test_var / "logs" / "fake-twilio.log").start()
    yield fake
    fake.stop()


@pytest.fixture
def make_stack(rabbit, postgres, test_var, fake_twilio):
    factory = StackFactory(rabbit, postgres, test_var / "logs", env=fake_twilio.env)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="session")
def shared_stack(rabbit, postgres, test_var, fake_twilio):
    """One stack for the session, started once: its modules add their own units, people and
    documents (codes tagged per test) and change nothing another module reads. A module that
    needs other settings, stops services or fuzzes whatever it lists defines its own ``stack``."""
    yield from StackFactory(rabbit, postgres, test_var / "logs", env=fake_twilio.env).serving()


@pytest.fixture(scope="module")
def stack(shared_stack):
    return shared_stack


# Urgent deadlines of one minute (the shortest the settings take) and an overdue sweep every second:
# the modules that need a receipt to fall overdue wait that minute, since the stack's clock cannot move.
ONE_MINUTE = {"EXCHANGE_URGENT_MINUTES": "1", "EXCHANGE_EXTRA_URGENT_MINUTES": "1", "EXCHANGE_OFF_HOURS_MINUTES": "1",
              "EXCHANGE_SWEEP_SECONDS": "1"}


@pytest.fixture(scope="session")
def late_signing(one_minute_stack):
    """The two scenarios that wait for an urgent receipt to fall overdue, begun together on the
    one-minute stack so that one minute runs out for both (tests/test_notification_evidence.py's
    story, tests/test_reports.py's month); each module's fixture carries its own on from there."""
    from tests.test_notification_evidence import begin_story
    from tests.test_reports import begin_month

    return {"evidence": begin_story(one_minute_stack), "month": begin_month(one_minute_stack)}


@pytest.fixture(scope="session")
def one_minute_stack(rabbit, postgres, test_var, fake_twilio):
    """The one stack of the session whose urgent documents fall due a minute after they are sent;
    a longer call timeout (RPC_TIMEOUT), as its waits share two loaded cores with everything else."""
    yield from StackFactory(rabbit, postgres, test_var / "logs", env=fake_twilio.env).serving(
        env={**ONE_MINUTE, "RPC_TIMEOUT": "30"})


class Api:
    """A department system's view: plain HTTP against the gateway."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.http = requests.Session()

    def __getattr__(self, method):
        if method not in ("get", "post", "put", "delete", "patch"):
            raise AttributeError(method)
        return lambda path, **kw: self.http.request(method.upper(), self.base_url + path, timeout=30, **kw)


@pytest.fixture
def api(stack):
    """Anonymous: no token."""
    return Api(stack.gateway_url)


OPERATOR_PASSWORD = "Gw-Exchange-2026!"


def operator_login(stack) -> Api:
    """An Api logged in as the stack's operator, bootstrapped on first use (as `gongwen admin
    bootstrap` would: over RPC, before any account exists)."""
    from nameko.standalone.rpc import ClusterRpcProxy

    if getattr(stack, "operator", None) is None:
        key = device_key()
        with ClusterRpcProxy({"AMQP_URI": stack.amqp_uri}, timeout=30) as suite:
            suite.identity.bootstrap_operator("operator", OPERATOR_PASSWORD, public_pem(key))
        stack.operator = ("operator", OPERATOR_PASSWORD, key)
    return logged_in(Api(stack.gateway_url), *stack.operator)


def logged_in(api, username, password, key) -> Api:
    reply = login(api, username, password, key)
    assert reply.status_code == 200, reply.text
    api.http.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"
    return api


def new_account(api, body):
    """POST /api/v1/users once identity has heard of the unit from registry's event."""
    made = wait_until(lambda: (r := api.post("/api/v1/users", json=body)).json().get("error") != "UNKNOWN_UNIT" and r,
                      message="identity to know the unit")
    assert made.status_code == 201, made.text
    return made.json()


INITIAL_PASSWORD, CHANGED_PASSWORD = "Gw-Initial-2026!", "Gw-Changed-2026?"


def active_unit(operator, code, name=None, parent=None) -> dict:
    """A unit applied for and approved by the operator."""
    reply = operator.post("/api/v1/units", json={"code": code, "name": name or f"单位 {code}", "kind": "department",
                                                  "parent_code": parent})
    assert reply.status_code == 201, reply.text
    approved = operator.post(f"/api/v1/units/{code}/approve")
    assert approved.status_code == 200 and approved.json()["status"] == "active", approved.text
    return approved.json()


@dataclass
class Person:
    user_id: str
    username: str
    key: object
    api: "Api"


def person(stack, operator, unit_code, *roles) -> Person:
    """A real-name account the operator made, past its first login (password changed), signed in."""
    key, username = device_key(), f"{roles[0]}-{uuid.uuid4().hex[:6]}"
    made = new_account(operator, {"username": username, "name": "张三", "unit_code": unit_code, "roles": list(roles),
                                  "mobile": "13800138000", "initial_password": INITIAL_PASSWORD,
                                  "device_public_key": public_pem(key)})
    first = logged_in(Api(stack.gateway_url), username, INITIAL_PASSWORD, key)
    assert first.get("/api/v1/units").json()["error"] == "PASSWORD_CHANGE_REQUIRED"
    changed = first.post("/api/v1/auth/password", json={"old_password": INITIAL_PASSWORD,
                                                        "new_password": CHANGED_PASSWORD})
    assert changed.status_code == 204, changed.text
    return Person(made["user_id"], username, key, logged_in(Api(stack.gateway_url), username, CHANGED_PASSWORD, key))


def when_known(call, error="UNKNOWN_UNIT", message="a service to know the unit"):
    """``call()`` again until a service answers something other than ``error`` (events travel)."""
    return wait_until(lambda: [r for r in [call()] if r.json().get("error") != error], message=message)[0]


@pytest.fixture
def operator_api(stack):
    return operator_login(stack)


class Databases:
    """Read each service's own database directly: the tests may look where services may not."""

    def __init__(self, stack):
        self.engines = {s: create_engine(url, poolclass=NullPool) for s, url in stack.database_urls.items()}

    def rows(self, service, sql, **params):
        with self.engines[service].connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]

    def scalar(self, service, sql, **params):
        with self.engines[service].connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def unit_revisions(self, code):
        """``revision`` of unit ``code`` in every consumer's read model (None where absent)."""
        return {s: self.scalar(s, "SELECT revision FROM unit_views WHERE code = :c", c=code)
                for s in SERVICES if s != "registry"}


@pytest.fixture
def dbs(stack):
    return Databases(stack)
