"""Backups of every service database (备份: Zhangye 2009 §32, Yan'an 2017 §17) and their restore.

``python -m gongwen_local backup --to DIR`` writes one file per service — SQLite's online backup
API for the embedded databases (a consistent copy while the services run), ``pg_dump`` (one
snapshot transaction) for PostgreSQL — and ``manifest.json``: each file's SHA-256 and size, its
schema revision, and which key-encryption keys (by ``kek_id``, a hash that reveals nothing) the
wrapped key material in it needs. Each service's copy is consistent in itself; services are copied
one after another, and what one had published but another not yet handled is redelivered from the
outboxes after a restore (handlers are idempotent).

The wrapped private keys (seals, the CA, identity's token signing key, the ledger's key) live in
those databases and are therefore in the backup; the KEKs that open them are NOT: ``var/keks.json``
is never copied, and the manifest says so. Back the KEKs up apart (docs/operations.md).

``restore --from DIR`` checks every digest first and refuses the whole backup if one file is
missing or differs, then restores only into empty databases (a stack that never ran, or wiped).
"""
import base64
import binascii
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from .keks import SETTINGS as KEK_SETTINGS
from .stack import SERVICES

FORMAT = "gongwen-backup/1"
MANIFEST = "manifest.json"
KEKS_NOTE = ("The key-encryption keys (IDENTITY_KEK, SEAL_KEK, ARCHIVE_KEK; var/keks.json under make run) are "
             "NOT in this backup: the wrapped keys in these databases open only with them. Restore them from "
             "where they are kept apart; kek_ids names the ones each service needs.")
KEK_OF = {"identity": "IDENTITY_KEK", "seal": "SEAL_KEK", "archive": "ARCHIVE_KEK"}


class BackupRefused(Exception):
    """A backup that can't be restored as it is (digest mismatch, missing file), or a target that isn't empty."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _libpq_url(url: str) -> str:
    """pg_dump and pg_restore want libpq's URL, not SQLAlchemy's ``postgresql+psycopg2://``."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_tool(name: str) -> str:
    """The newest server's client (Debian keeps them per major version); pg_dump refuses a newer server."""
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: float(p.parents[1].name))
    found = str(candidates[-1]) if candidates else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: install postgresql-client")
    return found


def _describe(url: str) -> dict:
    """Schema revision and the ``kek_id``s of the wrapped keys stored in the database at ``url``."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            tables = inspect(conn).get_table_names()
            revision = (conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                        if "alembic_version" in tables else None)
            kek_ids, key_tables = set(), []
            for table in tables:
                if "kek_id" in {c["name"] for c in inspect(conn).get_columns(table)}:
                    key_tables.append(table)
                    kek_ids.update(row[0] for row in conn.execute(
                        text(f'SELECT DISTINCT kek_id FROM "{table}" WHERE kek_id IS NOT NULL')))
            return {"schema_revision": revision, "wrapped_key_tables": sorted(key_tables), "kek_ids": sorted(kek_ids)}
    finally:
        engine.dispose()


def _copy_sqlite(source_path, target: Path) -> None:
    """SQLite's online backup API: a consistent copy even while services write to the source."""
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        with copy:
            source.backup(copy)
    finally:
        copy.close()
        source.close()


def backup(database_urls: dict, to: Path) -> dict:
    """Copy every service database into ``to`` (made, must be empty) and write the manifest."""
    to = Path(to)
    if to.exists() and any(to.iterdir()):
        raise BackupRefused(f"{to} is not empty: a backup goes into a directory of its own")
    absent = [name for name, url in database_urls.items()
              if _is_sqlite(url) and not Path(make_url(url).database).is_file()]
    if absent:
        raise BackupRefused(f"no database of {', '.join(absent)} at {make_url(database_urls[absent[0]]).database} "
                            "(has the stack run there? --var or --url say where)")
    to.mkdir(parents=True, exist_ok=True)
    entries = {}
    for service in SERVICES:
        url = database_urls[service]
        if _is_sqlite(url):
            name, engine = f"{service}.sqlite3", "sqlite"
            _copy_sqlite(make_url(url).database, to / name)
        else:
            name, engine = f"{service}.pgdump", "postgresql"
            subprocess.run([_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                            "--file", str(to / name), _libpq_url(url)], check=True, capture_output=True)
        entries[service] = {"file": name, "engine": engine, "bytes": (to / name).stat().st_size,
                            "sha256": sha256_of(to / name), **_describe(url)}
    manifest = {"format": FORMAT, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "services": entries, "keks_included": False, "keks_note": KEKS_NOTE}
    (to / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest


def verify(source: Path) -> dict:
    """The manifest, once every file it lists is there with its digest; BackupRefused otherwise."""
    source = Path(source)
    try:
        manifest = json.loads((source / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BackupRefused(f"{source / MANIFEST} is missing or unreadable: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise BackupRefused(f"not a {FORMAT} backup: {manifest.get('format')!r}")
    missing = sorted(set(SERVICES) - set(manifest.get("services", {})))
    if missing:
        raise BackupRefused(f"the backup has no database of {', '.join(missing)}")
    for service, entry in manifest["services"].items():
        path = source / entry["file"]
        if Path(entry["file"]).name != entry["file"] or not path.is_file():
            raise BackupRefused(f"{service}: {entry['file']} is missing")
        if sha256_of(path) != entry["sha256"]:
            raise BackupRefused(f"{service}: {entry['file']} does not match its SHA-256 in the manifest; "
                                "nothing was restored")
    return manifest


def _is_empty(url: str) -> bool:
    if _is_sqlite(url) and not Path(make_url(url).database).exists():
        return True
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return not inspect(conn).get_table_names()
    finally:
        engine.dispose()


def restore(database_urls: dict, source: Path) -> dict:
    """Restore every service database from ``source`` into empty databases, after checking every digest."""
    source = Path(source)
    manifest = verify(source)
    occupied = [s for s in SERVICES if not _is_empty(database_urls[s])]
    if occupied:
        raise BackupRefused(f"restore goes into empty databases; these have tables: {', '.join(occupied)} "
                            "(wipe them, or give other DATABASE_URLs)")
    for service in SERVICES:
        entry, url = manifest["services"][service], database_urls[service]
        if (entry["engine"] == "sqlite") != _is_sqlite(url):
            raise BackupRefused(f"{service}: a {entry['engine']} backup does not restore into "
                                f"{make_url(url).drivername}")
    for service in SERVICES:
        entry, url = manifest["services"][service], database_urls[service]
        path = source / entry["file"]
        if entry["engine"] == "sqlite":
            target = Path(make_url(url).database)
            target.parent.mkdir(parents=True, exist_ok=True)
            _copy_sqlite(path, target)
        else:
            subprocess.run([_pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
                            "--single-transaction", "--dbname", _libpq_url(url), str(path)],
                           check=True, capture_output=True)
    return manifest


def _kek_ids(kek) -> set:
    """The names a KEK goes by in stored rows: keywrap's ``kek_id``, and identity's older label for
    its token signing keys (``gongwen_identity.domain.tokens``)."""
    from gongwen_identity.domain import tokens

    return {kek.kek_id, kek.key_id(tokens._KEK_ID_LABEL)}


def kek_mismatches(manifest: dict, keks: dict) -> list[str]:
    """Which services' wrapped keys the given KEKs (setting -> base64) would not open, by ``kek_id``."""
    from gongwen_common.keywrap import KeyEncryptionKey, KeyUnavailable

    problems = []
    for service, setting in KEK_OF.items():
        needed = set(manifest["services"][service]["kek_ids"])
        try:
            have = _kek_ids(KeyEncryptionKey(base64.b64decode(keks.get(setting) or "", validate=True)))
        except (binascii.Error, ValueError, KeyUnavailable):
            have = set()
        if needed - have:
            problems.append(f"{service}'s keys need {setting} with kek_id {', '.join(sorted(needed))}; "
                            f"the configured one is {'/'.join(sorted(have)) or 'missing or invalid'}")
    return problems


def sqlite_urls(var: Path) -> dict:
    """The embedded databases ``make run`` uses under ``var``."""
    return {name: f"sqlite:///{Path(var).resolve()}/db/{name}.sqlite3" for name in SERVICES}


def local_keks_if_present(var: Path) -> dict:
    """The KEKs the environment or ``var/keks.json`` holds, without making new ones: a restore
    checks them, never invents them."""
    path = Path(var) / "keks.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    return {name: os.environ.get(name) or stored.get(name) for name in KEK_SETTINGS}


def main(command: str, args) -> int:
    """``backup --to DIR`` / ``restore --from DIR`` of the stack under ``--var`` (SQLite) or the
    databases given with ``--url SERVICE=URL`` (e.g. PostgreSQL)."""
    given = dict(item.partition("=")[::2] for item in args.url)
    unknown = sorted(set(given) - set(SERVICES))
    if unknown:
        print(f"refused: --url names no service: {', '.join(unknown)} (services: {', '.join(SERVICES)})",
              file=sys.stderr)
        return 2
    urls = {**sqlite_urls(args.var), **given}
    try:
        if command == "backup":
            manifest = backup(urls, Path(args.to))
            print(f"backed up {len(manifest['services'])} databases into {args.to} ({MANIFEST} has their SHA-256)")
            print(f"NOT included: the KEKs ({Path(args.var) / 'keks.json'}); keep them apart.")
            return 0
        manifest = restore(urls, Path(args.source))
    except BackupRefused as refusal:
        print(f"refused: {refusal}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as failure:  # pg_dump / pg_restore said why
        print(f"failed: {Path(failure.cmd[0]).name}: {failure.stderr.decode(errors='replace').strip()}",
              file=sys.stderr)
        return 1
    except OperationalError as failure:  # a database that is not there or does not answer
        print(f"failed: {failure.orig or failure}", file=sys.stderr)
        return 1
    print(f"restored {len(manifest['services'])} databases from {args.source} (backup of {manifest['created_at']})")
    for problem in kek_mismatches(manifest, local_keks_if_present(Path(args.var))):
        print(f"warning: {problem}", file=sys.stderr)
    return 0


def add_commands(sub, default_var: str) -> None:
    for command, flag, dest, what in (("backup", "--to", "to", "an empty directory to write the backup into"),
                                      ("restore", "--from", "source", "a backup made by `backup`")):
        verb = "back up" if command == "backup" else "restore"
        parser = sub.add_parser(command, help=f"{verb} every service database (not the KEKs)")
        parser.add_argument(flag, dest=dest, required=True, help=what)
        parser.add_argument("--var", default=default_var, help="the make run directory (SQLite databases)")
        parser.add_argument("--url", action="append", default=[], metavar="SERVICE=URL",
                            help="a service's DATABASE_URL instead of var/db (repeat per service)")
