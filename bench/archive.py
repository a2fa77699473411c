"""The archive's ledger: appends per second through ``gongwen_archive.domain.ledger.append`` (SQLite
and PostgreSQL, the schema made by the service's own migrations), and inclusion and consistency
proof times in a tree of 1 million entries, beside hashlib's raw SHA-256 rate measured in the same run.

  floor        hashlib.sha256 of one typical leaf (the canonical JSON of an exchange event, ~600 B)
  append       ``ledger.append`` + commit, one event per transaction as the archive's handler does:
               the duplicate check, the size row locked, the leaf's canonical JSON and hash, the
               perfect-subtree nodes it completes (reading their left siblings), the entry
  tree         building the 1,000,000-leaf tree's node store in memory (``merkle.append``):
               leaf hash + the completed nodes, per leaf
  proof        ``merkle.inclusion_proof`` / ``consistency_proof`` on that store at random indices
               and sizes, and ``verify_inclusion`` (the hashlib-only verifier) on each proof
PostgreSQL needs the Debian server (``make install``); ``--no-postgres`` skips it. Usage: ``make
bench`` (or ``python bench/archive.py --appends 2000 --entries 1000000``).
"""
import warnings

warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helpers beside this file; bench/ is no package

from rpc_roundtrip import percentiles, time_calls  # noqa: E402

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def event(n: int):
    """A ``receipt_signed`` as the exchange publishes it (summary + the receipt row)."""
    from gongwen_common.entrypoints import Event

    document_id = str(uuid.UUID(int=n // 4))
    return Event(uuid.uuid4().hex, "receipt_signed", NOW.isoformat(), {
        "id": document_id, "issuer_code": "gz-bench-a", "doc_number": f"穗基〔2026〕{n // 4}号",
        "title": "关于开展电子公文交换性能基准测试的通知", "urgency": "normal", "sent_at": NOW.isoformat(),
        "status": "sent", "receipt": {"receipt_id": str(uuid.uuid4()), "document_id": document_id,
                                      "unit_code": f"gz-bench-{n % 4}", "role": "main", "state": "signed",
                                      "generation": 1, "delivered_at": NOW.isoformat(), "due_at": NOW.isoformat(),
                                      "signed_at": NOW.isoformat(), "signed_by": str(uuid.uuid4())}})


def leaf_bytes() -> bytes:
    from gongwen_common.manifest import canonical_bytes

    sample = event(1)
    return canonical_bytes({"index": 123456, "source": "exchange", "event_id": sample.event_id,
                            "event_type": sample.event_type, "occurred_at": NOW.isoformat(),
                            "document_id": sample.data["id"], "units": ["gz-bench-0", "gz-bench-a"],
                            "data": sample.data})


def measure_floor(calls: int, leaf: bytes) -> dict:
    return time_calls(lambda: hashlib.sha256(b"\x00" + leaf).digest(), calls, warmup=1000)


def measure_appends(url: str, appends: int) -> dict:
    """``ledger.append`` and a commit per event, on a database migrated by the archive's migrations."""
    from sqlalchemy import create_engine

    from gongwen_archive.domain import ledger
    from gongwen_common import migrate
    from gongwen_common.db import Session

    migrate.upgrade("gongwen_archive", url)
    session = Session(create_engine(url))
    counter = iter(range(10**9))

    def append():
        ledger.append(session, "exchange", event(next(counter)), NOW)
        session.commit()

    try:
        return time_calls(append, appends, warmup=100)
    finally:
        session.close()


def measure_proofs(entries: int, proofs: int, floor_leaf: bytes) -> dict:
    from gongwen_contracts.archive import merkle

    nodes = merkle.MemoryNodes()
    started = time.perf_counter()
    for n in range(entries):
        merkle.append(nodes, merkle.leaf_hash(floor_leaf + n.to_bytes(4, "big")))
    built = time.perf_counter() - started
    rng = random.Random(6962)
    root = merkle.root(nodes, entries)
    inclusion, verify, consistency = [], [], []
    for _ in range(proofs):
        index = rng.randrange(entries)
        t0 = time.perf_counter()
        path = merkle.inclusion_proof(nodes, index, entries)
        t1 = time.perf_counter()
        if not merkle.verify_inclusion(nodes.node(0, index), index, entries, path, root):
            raise RuntimeError("an inclusion proof of the bench's own tree did not verify")
        t2 = time.perf_counter()
        first = rng.randrange(1, entries)
        merkle.consistency_proof(nodes, first, entries)
        t3 = time.perf_counter()
        inclusion.append(t1 - t0)
        verify.append(t2 - t1)
        consistency.append(t3 - t2)
    return {"tree_build": {"p50": built / entries * 1000, "p99": built / entries * 1000,
                           "mean": built / entries * 1000, "total_s": built},
            "inclusion_proof": percentiles(inclusion), "verify_inclusion": percentiles(verify),
            "consistency_proof": percentiles(consistency), "proof_length": len(path)}


def postgres_url(work: Path):
    """A throw-away PostgreSQL cluster, or None when the server is not installed."""
    from gongwen_local.postgres import PostgresCluster

    try:
        cluster = PostgresCluster(work / "postgres")
    except (FileNotFoundError, RuntimeError) as missing:
        print(f"(no PostgreSQL: {missing})")
        return None, None
    cluster.start()
    cluster.create_database("bench_archive")
    return cluster, cluster.url("bench_archive")


ROWS = ("floor", "append_sqlite", "append_postgres", "tree_build", "inclusion_proof", "verify_inclusion",
        "consistency_proof")
LABELS = {"floor": "floor: hashlib SHA-256 of one leaf", "append_sqlite": "ledger.append + commit (SQLite)",
          "append_postgres": "ledger.append + commit (PostgreSQL)",
          "tree_build": "tree of 1M: leaf + completed nodes (mem, mean)",
          "inclusion_proof": "inclusion proof at 1M entries", "verify_inclusion": "verify_inclusion (hashlib only)",
          "consistency_proof": "consistency proof to 1M entries"}


def report(figures: dict, args, leaf: bytes) -> None:
    print(f"\nArchive ledger: {args.appends} appends per database, a tree of {args.entries:,} entries, "
          f"{args.proofs} proofs, {len(leaf)}-byte leaves, 2-core machine")
    print(f"{'path':<46}{'p50 ms':>10}{'p99 ms':>10}{'ops/s':>11}{'p50 ×floor':>12}")
    summary = {}
    for key in ROWS:
        row = figures.get(key)
        if row is None:
            continue
        ops = 1000 / row["mean"]
        times_floor = row["p50"] / figures["floor"]["p50"]
        label = LABELS[key].replace("1M", f"{args.entries / 1e6:g}M")
        print(f"{label:<46}{row['p50']:>10.4f}{row['p99']:>10.4f}{ops:>11.0f}{times_floor:>12.1f}")
        summary[key] = {"p50_ms": round(row["p50"], 4), "p99_ms": round(row["p99"], 4), "ops_per_s": round(ops, 1),
                        "x_floor": round(times_floor, 1)}
    sha_rate = len(leaf) / (figures["floor"]["mean"] / 1000) / 1e6
    print(f"SHA-256 raw rate: {sha_rate:.0f} MB/s on {len(leaf)}-byte leaves; tree of {args.entries:,} built in "
          f"{figures['tree_build']['total_s']:.1f} s; proofs carry {figures['proof_length']} hashes")
    print(json.dumps({"bench": "archive", "appends": args.appends, "entries": args.entries, "leaf_bytes": len(leaf),
                      "sha256_mb_per_s": round(sha_rate), "paths": summary}, ensure_ascii=False))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=2000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    leaf = leaf_bytes()
    work = Path(tempfile.mkdtemp(prefix="gongwen-bench-archive-"))
    figures = {"floor": measure_floor(100_000, leaf)}
    figures["append_sqlite"] = measure_appends(f"sqlite:///{work}/archive.sqlite3", args.appends)
    if not args.no_postgres:
        cluster, url = postgres_url(work)
        try:
            if url:
                figures["append_postgres"] = measure_appends(url, args.appends)
        finally:
            if cluster:
                cluster.stop()
    proofs = measure_proofs(args.entries, args.proofs, leaf)
    figures.update({k: v for k, v in proofs.items() if k != "proof_length"}, proof_length=proofs["proof_length"])
    report(figures, args, leaf)


if __name__ == "__main__":
    main()
