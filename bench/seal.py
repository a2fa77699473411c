"""Sealing (盖章) and verifying a manifest through the seal service, beside the raw crypto, in the same run.

Starts its own RabbitMQ node and the suite (SQLite) as ``rpc_roundtrip.py`` does, registers one
unit and issues it a seal, then measures, sequentially, on a ~1 KB canonical manifest:
  floor        ECDSA P-256 / SHA-256 sign and verify with ``cryptography``, in-process
  cms          ``gongwen_common.cms.seal`` / ``cms.verify`` in-process: the CMS SignedData on top
               (signed attributes, DER, certificate parsing, chain check) without the service
  template     ``cms.SealTemplate(...).seal``: what the seal service does per document, its seal's
               template (certificate and constant structure encoded once) and key held in memory
  rpc          ``seal.sign`` / ``seal.verify`` through nameko RPC from one long-lived
               ClusterRpcProxy: broker hop, the seal's key unwrapped from the database, and for
               sign the use log, audit record and outbox event written in one transaction
Every RPC sign gets its own manifest (a counter in it) and every RPC verify checks one of those
signatures, so nothing can be served from a cache. Sign rows are compared with the sign floor,
verify rows with the verify floor. Usage: ``make bench`` (or ``python bench/seal.py --calls 300``).
"""
import warnings

warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")

import argparse  # noqa: E402
import base64  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

# The helpers live beside this file, in the other benchmark; bench/ is not a package.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rpc_roundtrip import time_calls  # noqa: E402

UNIT_CODE = "bench-seal-unit"
OPERATOR = {"user_id": "op-1", "unit_code": "operator", "roles": ["operator"]}
ADMIN = {"user_id": "a1", "unit_code": UNIT_CODE, "roles": ["admin"]}
CLERK = {"user_id": None, "unit_code": UNIT_CODE, "roles": ["clerk"]}  # the user id is identity's (issue_seal)
BENCH_PASSWORD = "Gw-Bench-2026!x"
WARMUP = 50  # time_calls' default, spelled out: the RPC rows need that many distinct manifests more


def manifest(counter: int) -> bytes:
    """A canonical manifest of about 1 KB, like a notice with three attachments; ``counter`` makes it unique."""
    from gongwen_common.manifest import canonical_bytes, sha256_hex

    return canonical_bytes({
        "title": "关于印发《电子公文交换性能基准测试办法》的通知",
        "doc_number": f"基准〔2025〕{counter}号",
        "issuer_code": UNIT_CODE,
        "secrecy": "none",
        "urgency": "normal",
        "recipient_codes": [f"recipient-unit-{i:02d}" for i in range(1, 11)],
        "metadata": {"bench_counter": counter, "subject": "电子公文 印章 基准测试"},
        "body_sha256": sha256_hex(f"body {counter}".encode()),
        "attachments": [{"name": f"附件{i}.pdf", "sha256": sha256_hex(f"attachment {i} {counter}".encode()),
                         "size": 40960 * i} for i in range(1, 5)],
    })


def measure_in_process(calls: int) -> dict:
    """The floor (raw ECDSA) and the CMS layer, with a throw-away CA: no broker, no database."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from gongwen_common import cms
    from gongwen_seal.authority import create_root, issue_seal_certificate

    now = datetime.now(UTC)
    root_key, root = create_root(now)
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = issue_seal_certificate(root_key, root, unit_code=UNIT_CODE, unit_name="基准测试单位",
                                         seal_serial="GWBENCH", public_key=key.public_key(), not_before=now,
                                         not_after=now + timedelta(days=1))
    content = manifest(0)
    public_key, algorithm = key.public_key(), ec.ECDSA(hashes.SHA256())
    raw_signature = key.sign(content, algorithm)
    sealed = cms.seal(content, certificate, key, now)
    template = cms.SealTemplate(certificate, key)

    def cms_verify():
        # A verification that failed would be measuring an early exit, not the work.
        if not cms.verify(content, sealed, [root]).valid:
            raise RuntimeError("cms.verify refused the benchmark's own seal")

    return {
        "floor_sign": time_calls(lambda: key.sign(content, algorithm), calls),
        "floor_verify": time_calls(lambda: public_key.verify(raw_signature, content, algorithm), calls),
        "cms_seal": time_calls(lambda: cms.seal(content, certificate, key, now), calls),
        "cms_template": time_calls(lambda: template.seal(content, now), calls),
        "cms_verify": time_calls(cms_verify, calls),
    }


def public_pem() -> str:
    """A fresh device (U_Key) public key: identity keeps one for every account."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def once_known(call, timeout=60):
    """``call()`` again while the service has not yet heard of the unit from the registry's events."""
    from gongwen_common.errors import DomainError

    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except DomainError as refused:
            if refused.code != "UNKNOWN_UNIT" or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def issue_seal(cluster) -> dict:
    """The unit's seal, in force. The seal service asks identity whether its custodian is an active
    user of the unit, so identity makes the operator and the clerk first; CLERK becomes that clerk."""
    operator = cluster.identity.bootstrap_operator("bench-operator", BENCH_PASSWORD, public_pem())
    clerk = once_known(lambda: cluster.identity.create_user(
        {"username": f"bench-clerk-{uuid.uuid4().hex[:6]}", "name": "基准测试文档员", "unit_code": UNIT_CODE,
         "roles": ["clerk"], "mobile": "13800138000", "initial_password": BENCH_PASSWORD,
         "device_public_key": public_pem()}, {"user_id": operator["user_id"]}))
    CLERK["user_id"] = clerk["user_id"]
    custody = {"required_approvals": 1, "custodian_user_ids": [clerk["user_id"]]}
    applied = once_known(lambda: cluster.seal.apply_seal({"unit_code": UNIT_CODE, "custody": custody}, ADMIN))
    return cluster.seal.approve_seal(applied["serial"], OPERATOR)


def measure_rpc(cluster, calls: int) -> dict:
    """seal.sign and seal.verify over RPC, each call on its own manifest."""
    manifests = [base64.b64encode(manifest(n)).decode() for n in range(1, WARMUP + calls + 1)]
    signed = []
    pending = iter(manifests)

    def sign():
        content = next(pending)
        signed.append((content, cluster.seal.sign(UNIT_CODE, content, CLERK)["signature"]))

    sign_figures = time_calls(sign, calls, warmup=WARMUP)
    to_verify = itertools.cycle(signed)

    def verify():
        content, signature = next(to_verify)
        answer = cluster.seal.verify(content, signature)
        if not answer["valid"]:
            raise RuntimeError(f"seal.verify refused a seal it made: {answer}")

    return {"rpc_sign": sign_figures, "rpc_verify": time_calls(verify, calls, warmup=WARMUP)}


ROWS = (  # key, label, the floor it is compared with
    ("floor_sign", "floor: ECDSA P-256 sign (cryptography)", "floor_sign"),
    ("floor_verify", "floor: ECDSA P-256 verify (cryptography)", "floor_verify"),
    ("cms_seal", "cms.seal in-process (CMS SignedData)", "floor_sign"),
    ("cms_template", "cms.SealTemplate.seal (the service's path)", "floor_sign"),
    ("cms_verify", "cms.verify in-process (+ chain check)", "floor_verify"),
    ("rpc_sign", "nameko RPC → seal.sign (DB + use log)", "floor_sign"),
    ("rpc_verify", "nameko RPC → seal.verify (DB read)", "floor_verify"),
)


def report(figures: dict, calls: int, manifest_bytes: int) -> None:
    print(f"\nSealing, {calls} sequential calls each, {manifest_bytes}-byte manifest, one broker, 2-core machine")
    print(f"{'path':<44}{'p50 ms':>9}{'p99 ms':>9}{'ops/s':>9}{'p50 ×floor':>12}")
    summary = {}
    for key, label, floor in ROWS:
        row = figures[key]
        ops = 1000 / row["mean"]
        times_floor = row["p50"] / figures[floor]["p50"]
        print(f"{label:<44}{row['p50']:>9.3f}{row['p99']:>9.3f}{ops:>9.0f}{times_floor:>12.1f}")
        summary[key] = {"p50_ms": round(row["p50"], 3), "p99_ms": round(row["p99"], 3), "ops_per_s": round(ops, 1),
                        "x_floor": round(times_floor, 1)}
    print(json.dumps({"bench": "seal", "calls": calls, "manifest_bytes": manifest_bytes, "paths": summary},
                     ensure_ascii=False))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()

    from gongwen_local.keks import local_keks
    from gongwen_local.ports import free_port
    from gongwen_local.rabbitmq import RabbitNode
    from gongwen_local.stack import SERVICES, Stack

    work = Path(tempfile.mkdtemp(prefix="gongwen-bench-seal-"))
    rabbit = RabbitNode(work / "rabbit", node_name=f"gwbench{uuid.uuid4().hex[:6]}")
    stack = None
    try:
        rabbit.start()
        uri = rabbit.amqp_uri()
        stack = Stack(uri, {s: f"sqlite:///{work}/db/{s}.sqlite3" for s in SERVICES}, free_port(), work / "log",
                      env=local_keks(work))
        stack.start()

        import eventlet

        eventlet.monkey_patch()
        from nameko.standalone.rpc import ClusterRpcProxy

        # A timeout, so a seal service that never answers fails the run instead of hanging it.
        with ClusterRpcProxy({"AMQP_URI": uri}, timeout=60) as cluster:
            cluster.registry.register_unit({"code": UNIT_CODE, "name": "基准测试单位", "kind": "department",
                                            "parent_code": None}, actor=OPERATOR, active=True)
            issue_seal(cluster)
            # In-process rows under the same conditions as the RPC rows: the suite idling alongside.
            figures = measure_in_process(args.calls)
            figures.update(measure_rpc(cluster, args.calls))
        report(figures, args.calls, len(manifest(WARMUP + args.calls)))
    finally:
        if stack:
            stack.stop()
        rabbit.stop()


if __name__ == "__main__":
    sys.exit(main())
