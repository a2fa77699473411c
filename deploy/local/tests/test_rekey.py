"""KEK rotation (``python -m gongwen_local rekey``) on each service's real schema: every wrapped key
opens under the new KEK and no longer under the old; a second run changes nothing; a wrong old KEK
changes nothing."""
import base64
import os
import subprocess
import sys
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from gongwen_archive.domain import ledger
from gongwen_common import migrate
from gongwen_common.keywrap import KeyEncryptionKey, KeyUnavailable
from gongwen_identity.domain import tokens
from gongwen_seal.domain import keys

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


def kek_value() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def kek(value: str) -> KeyEncryptionKey:
    return KeyEncryptionKey.from_config(value, setting="TEST_KEK", purpose="tests")


# service -> (make its keys under a KEK, open them all under a KEK)
def _identity_make(session, value):
    tokens.signing_key(session, value, NOW)


def _identity_open(session, value):
    tokens.signing_key(session, value, NOW)


def _seal_make(session, value):
    keys.root(session, kek(value), NOW)


def _seal_open(session, value):
    keys.root_key(session, kek(value), NOW)


def _archive_make(session, value):
    ledger.signing_key(session, SimpleNamespace(kek=kek(value)), NOW)


_archive_open = _archive_make
SERVICES = {"identity": (_identity_make, _identity_open, tokens.SigningKeyUnavailable),
            "seal": (_seal_make, _seal_open, KeyUnavailable),
            "archive": (_archive_make, _archive_open, KeyUnavailable)}


def rekey(service, url, old, new):
    return subprocess.run([sys.executable, "-m", "gongwen_local", "rekey", service, "--url", url],
                          env={**os.environ, "GONGWEN_OLD_KEK": old, "GONGWEN_NEW_KEK": new},
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_a_rotated_kek_opens_every_key_and_the_old_one_none(service, tmp_path):
    make, open_all, refused = SERVICES[service]
    url = f"sqlite:///{tmp_path}/{service}.sqlite3"
    migrate.upgrade(f"gongwen_{service}", url)
    old, new, stranger = kek_value(), kek_value(), kek_value()
    engine = create_engine(url)
    with Session(engine) as session, session.begin():
        make(session, old)

    wrong = rekey(service, url, stranger, new)  # an old KEK that is not the keys' changes nothing
    assert wrong.returncode != 0 and "KEK" in wrong.stderr, wrong.stderr
    with Session(engine) as session:
        open_all(session, old)

    done = rekey(service, url, old, new)
    assert done.returncode == 0 and "1 key(s) re-wrapped" in done.stdout, done.stderr
    with Session(engine) as session:
        open_all(session, new)
        with pytest.raises(refused):
            open_all(session, old)

    again = rekey(service, url, old, new)  # an interrupted rotation is run again: nothing left to do
    assert again.returncode == 0 and "0 key(s) re-wrapped" in again.stdout, again.stderr
    engine.dispose()
