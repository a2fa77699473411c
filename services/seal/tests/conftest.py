"""Worker tests of the seal service: nameko's ``worker_factory`` on SQLite, a clock the test
moves, real keys, real CMS and the real CA."""
import base64
from datetime import UTC, datetime

import pytest
from nameko.testing.services import worker_factory

from conftest import WorkerCalls
from gongwen_common import manifest as manifests
from gongwen_common.clock import MovableClock
from gongwen_seal.models import Base, UnitView
from gongwen_seal.service import SealService

KEK = base64.b64encode(bytes(range(100, 132))).decode()
OPERATOR = {"user_id": "op-1", "unit_code": "operator", "roles": ["operator"]}


def person(user_id, unit_code, *roles, proxy=None):
    actor = {"user_id": user_id, "unit_code": unit_code, "roles": list(roles)}
    if proxy:
        actor["proxy_user_id"] = proxy
    return actor


class SealWorld(WorkerCalls):
    """The seal service as its callers see it: each call commits, or rolls back on refusal."""

    operator = OPERATOR

    def __init__(self, session, config=None):
        self.session = session
        self.clock = MovableClock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
        self.service = worker_factory(SealService, db=session, clock=self.clock,
                                      config={"SEAL_KEK": KEK, **(config or {})})

    def unit(self, code, name=None, status="active"):
        self.session.add(UnitView(code=code, name=name or f"单位{code}", status=status, version=1, revision=1,
                                  updated_at=self.clock.now))
        self.session.commit()

    def admin(self, unit_code):
        return person(f"admin-{unit_code}", unit_code, "admin")

    def clerk(self, unit_code, user_id=None):
        return person(user_id or f"clerk-{unit_code}", unit_code, "clerk")

    def active_seal(self, unit_code, required=1, custodians=None):
        if self.session.get(UnitView, unit_code) is None:
            self.unit(unit_code)
        custodians = custodians or [f"keeper1-{unit_code}", f"keeper2-{unit_code}"]
        applied = self.call("apply_seal", unit_code, {"required_approvals": required,
                                                      "custodian_user_ids": custodians}, self.admin(unit_code))
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


