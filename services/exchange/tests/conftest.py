"""Worker tests of the exchange: nameko's ``worker_factory`` on SQLite with a clock the test moves,
and the real seal service (its own worker and database) doing the sealing and seal checks."""
import base64
import hashlib
from datetime import UTC, datetime

import pytest
from nameko.testing.services import worker_factory

from conftest import WorkerCalls
from gongwen_common import manifest as manifests
from gongwen_common.clock import MovableClock
from gongwen_exchange.models import Base, UnitView
from gongwen_exchange.service import ExchangeService
from gongwen_seal.models import Base as SealBase
from gongwen_seal.models import UnitView as SealUnitView
from gongwen_seal.service import SealService

OPERATOR = {"user_id": "op-1", "unit_code": "operator", "roles": ["operator"]}
SEAL_KEK = base64.b64encode(hashlib.sha256(b"exchange worker tests").digest()).decode()


class _Reply:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


class Everyone:
    """Identity as the seal service asks it (``active_members``): every custodian named is an
    active user of the unit (the exchange's tests are not about custody)."""

    class active_members:
        @staticmethod
        def call_async(unit_code, user_ids):
            return _Reply(list(user_ids))


class SealWorker:
    """The seal service's worker where exchange holds its ``RpcProxy("seal")``: each call runs the
    real rules in the seal database and commits, as the RPC entrypoint would."""

    def __init__(self, session, clock):
        self.session = session
        self.service = worker_factory(SealService, db=session, clock=clock, identity=Everyone(),
                                      config={"SEAL_KEK": SEAL_KEK})

    def __getattr__(self, method):
        worker = self

        class Method:
            def call_async(self, *args, **kwargs):
                try:
                    value = getattr(worker.service, method)(*args, **kwargs)
                except Exception:
                    worker.session.rollback()
                    raise
                worker.session.commit()
                return _Reply(value)

        return Method()


class Exchange(WorkerCalls):
    def __init__(self, session, seal_session, config=None):
        self.session = session
        self.clock = MovableClock(datetime(2026, 11, 18, 2, 0, tzinfo=UTC))  # a Wednesday, 10:00 in Beijing
        self.seal = SealWorker(seal_session, self.clock)
        self.service = worker_factory(ExchangeService, db=session, clock=self.clock, seal=self.seal,
                                      config={"RPC_TIMEOUT": 10, **(config or {})})

    @staticmethod
    def clerk(unit_code, user_id=None, proxy=None):
        actor = {"user_id": user_id or f"clerk-{unit_code}", "unit_code": unit_code, "roles": ["clerk"]}
        if proxy:
            actor["proxy_user_id"] = proxy
        return actor

    def units(self, *codes, sealed=(), custody=None):
        """Active units in both directories; those in ``sealed`` get an active seal (custody: one
        approval by keeper "k" unless given)."""
        for code in codes:
            self.session.add(UnitView(code=code, name=f"单位{code}", status="active", version=1, revision=1,
                                      updated_at=self.clock.now))
            self.seal.session.add(SealUnitView(code=code, name=f"单位{code}", status="active", version=1, revision=1,
                                               updated_at=self.clock.now))
        self.session.commit()
        self.seal.session.commit()
        for code in sealed:
            admin = {"user_id": f"admin-{code}", "unit_code": code, "roles": ["admin"]}
            policy = custody or {"required_approvals": 1, "custodian_user_ids": ["k"]}
            applied = self.seal.service.apply_seal({"unit_code": code, "custody": policy}, admin)
            self.seal.service.approve_seal(applied["serial"], OPERATOR)
            self.seal.session.commit()

    def send(self, sender="gz-fgw", main=("a1", "a2", "a3"), cc=("c1", "c2"), body="<p>正文</p>".encode(),
             attachments=(("附件1.pdf", b"%PDF attachment"),), actor=None, key=None, **metadata):
        meta = {"doc_number": "穗发改〔2026〕12号", "title": "关于开展测试工作的通知", "signer": "张三",
                "urgency": "urgent", "secrecy": "none", "main_recipients": list(main), "cc_recipients": list(cc),
                "print_grants": {main[0]: 2} if main else {}, **metadata}
        files = [{"name": n, "data": base64.b64encode(d).decode()} for n, d in attachments]
        return self.call("send_document", meta, base64.b64encode(body).decode(), "正文.html", files,
                         actor or self.clerk(sender), idempotency_key=key)

    def download(self, document_id, part, unit_code):
        got = self.call("download", document_id, part, self.clerk(unit_code))
        return base64.b64decode(got["data"])


@pytest.fixture
def exchange(sqlite_session):
    return Exchange(sqlite_session(Base), sqlite_session(SealBase))


def digest(data: bytes) -> str:
    return manifests.sha256_hex(data)
