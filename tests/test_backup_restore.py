"""Backups (000 §32, 001 §17): every service database with its wrapped keys, never the KEKs, a
manifest of digests, and a restore into an empty stack after which the work carries on."""
import base64
import json
import sqlite3
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from conftest import TEST_ENV, Api, operator_login, wait_until
from gongwen_common import probe
from gongwen_common.keywrap import KeyEncryptionKey
from gongwen_local import backup
from gongwen_local.keks import local_keks
from gongwen_local.ports import free_port
from gongwen_local.stack import ROOT, SERVICES, Stack
from tests.test_documents import sealed_unit, send, system_of, unit


def cli(*args):
    return subprocess.run([sys.executable, "-m", "gongwen_local", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def kek_id(setting):
    return KeyEncryptionKey(base64.b64decode(TEST_ENV[setting])).kek_id


def sqlite_stack(rabbit, var, gateway_port):
    """A stack on the embedded databases under ``var`` (as `make run`), on a vhost of its own."""
    vhost = uuid.uuid4().hex[:8]
    rabbit.add_vhost(vhost)
    return Stack(rabbit.amqp_uri(vhost), backup.sqlite_urls(var), gateway_port, var / "log", env=TEST_ENV)


def notice(recipient):
    tag = uuid.uuid4().hex[:6]
    return {"doc_number": f"备〔2026〕{tag}号", "title": "关于做好数据备份工作的通知", "signer": "张三",
            "urgency": "normal", "secrecy": "none", "main_recipients": [recipient]}


def verifies_offline(api, doc, folder):
    """The seal checks with the restored CA, as a recipient would check it without the server."""
    folder.mkdir(exist_ok=True)
    (folder / "ca.pem").write_text(Api(api.base_url).get("/api/v1/seals/ca.pem").text)
    for part in ("manifest", "signature.p7s"):
        got = api.get(f"/api/v1/documents/{doc}/{part}")
        assert got.status_code == 200, got.text
        (folder / part).write_bytes(got.content)
    return subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "signature.p7s",
                           "-content", "manifest", "-CAfile", "ca.pem", "-out", "/dev/null"],
                          cwd=folder, capture_output=True, timeout=30).returncode == 0


@pytest.mark.slow
def test_a_backup_restored_into_an_empty_stack_carries_the_scenario_on(rabbit, tmp_path):
    var, saved = tmp_path / "var", tmp_path / "backup"
    local_keks(var)  # var/keks.json exists, as under make run: the backup must leave it out
    port = free_port()
    before = sqlite_stack(rabbit, var, port)
    try:
        before.start()
        operator = operator_login(before)
        sender, clerk = sealed_unit(before, operator)
        recipient = unit(operator, f"b-{uuid.uuid4().hex[:6]}", "示范市教育局")
        system = system_of(before, operator, recipient)
        signed_doc = wait_until(lambda: [r for r in [send(clerk, notice(recipient))] if r.status_code == 201],
                                message="the exchange to know the units")[0].json()["id"]
        assert system.post(f"/api/v1/documents/{signed_doc}/sign").json()["state"] == "signed"
        pending = send(clerk, notice(recipient))
        assert pending.status_code == 201, pending.text
        pending_doc = pending.json()["id"]

        made = cli("backup", "--to", str(saved), "--var", str(var))  # online, while the stack runs
        assert made.returncode == 0, made.stderr
    finally:
        before.stop()

    files = sorted(p.name for p in saved.iterdir())
    assert files == sorted([backup.MANIFEST, *(f"{s}.sqlite3" for s in SERVICES)])
    manifest = json.loads((saved / backup.MANIFEST).read_text())
    assert manifest["keks_included"] is False and "NOT in this backup" in manifest["keks_note"]
    assert not [p for p in saved.rglob("*") if p.name == "keks.json" or TEST_ENV["SEAL_KEK"].encode() in p.read_bytes()]
    for service, entry in manifest["services"].items():
        assert entry["sha256"] == backup.sha256_of(saved / entry["file"]) and entry["schema_revision"], service
    # the wrapped keys are in it, named by the KEK that opens them
    assert manifest["services"]["seal"]["kek_ids"] == [kek_id("SEAL_KEK")]
    assert "seals" in manifest["services"]["seal"]["wrapped_key_tables"]
    assert len(manifest["services"]["identity"]["kek_ids"]) == 1
    assert not backup.kek_mismatches(manifest, TEST_ENV)  # the stack's KEKs open every wrapped key
    assert backup.kek_mismatches(manifest, {**TEST_ENV, "SEAL_KEK": TEST_ENV["ARCHIVE_KEK"]})

    for database in (var / "db").iterdir():  # wipe
        database.unlink()
    restored = cli("restore", "--from", str(saved), "--var", str(var))
    assert restored.returncode == 0, restored.stderr
    after = sqlite_stack(rabbit, var, port)  # same KEKs, a broker that never saw the first stack
    after.operator = before.operator
    try:
        after.start()
        assert probe.main(["seal", "--amqp-uri", after.amqp_uri, "--deadline", "10"]) == 0
        # the documents are there, with their receipts
        assert system.get(f"/api/v1/documents/{signed_doc}").json()["receipt"]["state"] == "signed"
        assert verifies_offline(system, pending_doc, tmp_path / "check")
        # the exchange verifies the restored seal again when the recipient signs for it
        signed = system.post(f"/api/v1/documents/{pending_doc}/sign")
        assert signed.status_code == 200 and signed.json()["state"] == "signed", signed.text
        # the restored seal still signs: a new send works and arrives
        fresh = send(clerk, notice(recipient))
        assert fresh.status_code == 201, fresh.text
        inbox = system.get("/api/v1/inbox").json()["items"]
        assert fresh.json()["id"] in [item["document"]["id"] for item in inbox]
        assert verifies_offline(system, fresh.json()["id"], tmp_path / "check-new")
        matrix = clerk.get(f"/api/v1/documents/{pending_doc}/receipts").json()["items"]
        assert [row["state"] for row in matrix] == ["signed"]
        assert operator_login(after).get("/api/v1/units").status_code == 200
        assert sender in [u["code"] for u in operator.get("/api/v1/units").json()["items"]]
    finally:
        after.stop()


def small_databases(folder, rows=3):
    """A database per service with a table of wrapped keys, without a stack."""
    urls = {name: f"sqlite:///{folder}/{name}.sqlite3" for name in SERVICES}
    folder.mkdir(parents=True, exist_ok=True)
    for name in SERVICES:
        with sqlite3.connect(folder / f"{name}.sqlite3") as db:
            db.execute("CREATE TABLE seals (serial TEXT, kek_id TEXT, key_ciphertext BLOB)")
            db.executemany("INSERT INTO seals VALUES (?, ?, ?)", [(f"{name}-{n}", "kek1", b"\x00wrapped")
                                                                  for n in range(rows)])
    return urls


def test_a_backup_whose_digest_does_not_match_is_refused_and_nothing_is_restored(tmp_path):
    saved = tmp_path / "backup"
    backup.backup(small_databases(tmp_path / "source"), saved)
    with open(saved / "seal.sqlite3", "r+b") as tampered:
        tampered.seek(-1, 2)
        tampered.write(b"\xff" if tampered.read(1) != b"\xff" else b"\x00")
    target = tmp_path / "target"
    refused = cli("restore", "--from", str(saved), "--var", str(target))
    assert refused.returncode == 2 and "seal" in refused.stderr and "SHA-256" in refused.stderr
    assert not (target / "db").exists()  # checked before anything was written


def test_a_backup_missing_a_service_database_is_refused(tmp_path):
    saved = tmp_path / "backup"
    backup.backup(small_databases(tmp_path / "source"), saved)
    (saved / "archive.sqlite3").unlink()
    with pytest.raises(backup.BackupRefused, match="archive"):
        backup.restore(backup.sqlite_urls(tmp_path / "target"), saved)


def test_a_restore_goes_only_into_empty_databases(tmp_path):
    saved = tmp_path / "backup"
    backup.backup(small_databases(tmp_path / "source"), saved)
    occupied = small_databases(tmp_path / "occupied", rows=1)
    with pytest.raises(backup.BackupRefused, match="empty"):
        backup.restore(occupied, saved)
    with sqlite3.connect(tmp_path / "occupied" / "seal.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM seals").fetchone() == (1,)  # untouched


def test_the_backup_leaves_out_the_keks_and_names_the_ones_its_keys_need(tmp_path):
    var = tmp_path / "var"
    keks = local_keks(var)
    small_databases(var / "db")
    made = cli("backup", "--to", str(tmp_path / "backup"), "--var", str(var))
    assert made.returncode == 0, made.stderr
    assert "keks.json" in made.stdout  # says what it left out
    saved = list((tmp_path / "backup").iterdir())
    assert "keks.json" not in [p.name for p in saved]
    assert not [p for p in saved if any(value.encode() in p.read_bytes() for value in keks.values())]
    manifest = json.loads((tmp_path / "backup" / backup.MANIFEST).read_text())
    assert manifest["keks_included"] is False
    assert manifest["services"]["seal"]["kek_ids"] == ["kek1"]
    assert backup.kek_mismatches(manifest, keks)  # kek1 is none of these: the restore warns


def test_a_backup_goes_into_an_empty_directory_only(tmp_path):
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "old").write_text("x")
    with pytest.raises(backup.BackupRefused, match="not empty"):
        backup.backup(small_databases(tmp_path / "source"), tmp_path / "backup")


@pytest.mark.slow
def test_postgresql_databases_round_trip_through_pg_dump_and_pg_restore(postgres, tmp_path):
    tag = uuid.uuid4().hex[:6]
    source, target = {}, {}
    for name in SERVICES:
        for urls, prefix in ((source, "s"), (target, "r")):
            postgres.create_database(f"{prefix}{tag}_{name}")
            urls[name] = postgres.url(f"{prefix}{tag}_{name}")
    for name, url in source.items():
        engine = create_engine(url, poolclass=NullPool)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE seals (serial text, kek_id text, key_ciphertext bytea)"))
            conn.execute(text("INSERT INTO seals VALUES (:s, 'kek1', '\\x00ff')"), {"s": f"{name}-1"})
        engine.dispose()
    saved = tmp_path / "backup"
    manifest = backup.backup(source, saved)
    assert {entry["engine"] for entry in manifest["services"].values()} == {"postgresql"}
    assert manifest["services"]["seal"]["kek_ids"] == ["kek1"]
    backup.restore(target, saved)
    for name, url in target.items():
        engine = create_engine(url, poolclass=NullPool)
        with engine.connect() as conn:
            rows = [(serial, kek, bytes(key)) for serial, kek, key in conn.execute(text("SELECT * FROM seals"))]
            assert rows == [(f"{name}-1", "kek1", b"\x00\xff")]
        engine.dispose()
    with pytest.raises(backup.BackupRefused, match="empty"):
        backup.restore(target, saved)


def test_a_backup_of_databases_that_are_not_there_is_refused_without_writing_anything(tmp_path):
    made = cli("backup", "--to", str(tmp_path / "backup"), "--var", str(tmp_path / "never-ran"))
    assert made.returncode == 2 and "no database of registry" in made.stderr
    assert not (tmp_path / "backup").exists()


def test_a_failed_database_copy_says_why_and_leaves_no_restorable_backup(tmp_path):
    small_databases(tmp_path / "var" / "db")
    made = cli("backup", "--to", str(tmp_path / "backup"), "--var", str(tmp_path / "var"),
               "--url", f"seal=postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/gongwen_seal")
    assert made.returncode == 1 and "failed: pg_dump" in made.stderr and "Traceback" not in made.stderr
    assert not (tmp_path / "backup" / backup.MANIFEST).exists()  # the manifest is written last
    with pytest.raises(backup.BackupRefused, match="missing"):
        backup.verify(tmp_path / "backup")
