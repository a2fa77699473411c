"""Worker tests of the seal service: nameko's ``worker_factory`` on SQLite, a clock the test
moves, real keys, real CMS and the real CA; identity and the registry, which the service asks
itself, are small fakes answering as their RPCs do."""
import base64
from datetime import UTC, datetime

import pytest
from nameko.testing.services import worker_factory

from conftest import WorkerCalls
from gongwen_common import manifest as manifests
from gongwen_common.clock import MovableClock
from gongwen_common.errors import NotFound
from gongwen_seal.models import Base, UnitView
from gongwen_seal.service import SealService

KEK = base64.b64encode(bytes(range(100, 132))).decode()
OPERATOR = {"user_id": "op-1", "unit_code": "operator", "roles": ["operator"]}


def person(user_id, unit_code, *roles, proxy=None):
    actor = {"user_id": user_id, "unit_code": unit_code, "roles": list(roles)}
    if proxy:
        actor["proxy_user_id"] = proxy
    return actor


class _Reply:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


class Answering:
    """Another service's ``RpcProxy`` as the seal service holds it: each method answers from a
    plain function, as ``gongwen_common.rpc.call`` calls it (``call_async(...).result()``); the
    calls are kept so a test can see what was asked."""

    def __init__(self, **methods):
        self.methods, self.asked = methods, []

    def __getattr__(self, method):
        if method not in self.methods:
            raise AttributeError(method)
        answer, asked = self.methods[method], self.asked

        class Method:
            def call_async(self, *args, **kwargs):
                asked.append((method, *args))
                return _Reply(answer(*args, **kwargs))

        return Method()


class Directory:
    """What identity and the registry know: each unit's kind and its active users."""

    def __init__(self):
        self.kinds, self.members = {}, {}

    def get_unit(self, code, actor=None):
        if code not in self.kinds:
            raise NotFound(message=f"no unit {code!r}").flatten()
        return {"code": code, "kind": self.kinds[code]}

    def active_members(self, unit_code, user_ids):
        return [u for u in user_ids if u in self.members.get(unit_code, set())]


class SealWorld(WorkerCalls):
    """The seal service as its callers see it: each call commits, or rolls back on refusal."""

    operator = OPERATOR

    def __init__(self, session, config=None):
        self.session = session
        self.clock = MovableClock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
        self.directory = Directory()
        self.identity = Answering(active_members=self.directory.active_members)
        self.registry = Answering(get_unit=self.directory.get_unit)
        self.service = worker_factory(SealService, db=session, clock=self.clock, identity=self.identity,
                                      registry=self.registry, config={"SEAL_KEK": KEK, **(config or {})})

    def unit(self, code, name=None, status="active", kind="department", members=None):
        """A unit in the seal's copy and in the registry; its active users in identity (by default
        the custodians these tests name: k, k1, k2, keeper1-<code>, keeper2-<code>)."""
        self.session.add(UnitView(code=code, name=name or f"单位{code}", status=status, version=1, revision=1,
                                  updated_at=self.clock.now))
        self.session.commit()
        self.directory.kinds[code] = kind
        self.directory.members[code] = set(members if members is not None else
                                           ("k", "k1", "k2", f"keeper1-{code}", f"keeper2-{code}"))

    def member(self, unit_code, *user_ids):
        self.directory.members.setdefault(unit_code, set()).update(user_ids)

    def admin(self, unit_code):
        return person(f"admin-{unit_code}", unit_code, "admin")

    def clerk(self, unit_code, user_id=None):
        return person(user_id or f"clerk-{unit_code}", unit_code, "clerk")

    def active_seal(self, unit_code, required=1, custodians=None):
        if self.session.get(UnitView, unit_code) is None:
            self.unit(unit_code)
        custodians = custodians or [f"keeper1-{unit_code}", f"keeper2-{unit_code}"]
        self.member(unit_code, *custodians)
        custody = {"required_approvals": required, "custodian_user_ids": custodians}
        applied = self.call("apply_seal", {"unit_code": unit_code, "custody": custody}, self.admin(unit_code))
        return self.call("approve_seal", applied["serial"], OPERATOR)

    person = staticmethod(person)
    b64 = staticmethod(lambda data: b64(data))
    document = staticmethod(lambda *args, **kwargs: document(*args, **kwargs))

    def sign(self, unit_code, manifest: bytes, actor=None, approval_ids=None):
        return self.call("sign", unit_code, b64(manifest), actor or self.clerk(unit_code), approval_ids=approval_ids)

    def verify(self, manifest: bytes, signature_b64: str, **kwargs):
        return self.call("verify", b64(manifest), signature_b64, **kwargs)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def document(unit_code="gz-fgw", body=b"<p>body</p>", attachments=None, **metadata):
    """A manifest as the exchange builds it: canonical JSON of the metadata and the parts' digests."""
    attachments = attachments or {}
    return manifests.canonical_bytes({
        "doc_number": metadata.get("doc_number", "穗发改〔2026〕1号"), "title": metadata.get("title", "关于测试的通知"),
        "issuer_code": unit_code, "issued_at": "2026-11-20T09:00:00+08:00",
        "body_sha256": manifests.sha256_hex(body),
        "attachments": [{"name": n, "sha256": manifests.sha256_hex(d), "size": len(d)}
                        for n, d in attachments.items()]})


@pytest.fixture
def seals(sqlite_session):
    return SealWorld(sqlite_session(Base))


