"""``python -m gongwen_local rekey SERVICE --url DATABASE_URL``: rotate a service's KEK.

Every key the service keeps wrapped (identity: the token signing keys; seal: the CA's and every
seal's key; archive: the tree-head signing key) is unwrapped under the old KEK and wrapped again
under the new one, in one transaction; then the command checks that each opens under the new KEK
and none remains under the old. The KEKs come from the environment, never the command line (a
process list shows arguments): ``GONGWEN_OLD_KEK`` and ``GONGWEN_NEW_KEK``, base64 of 32 bytes.
Run it with the service stopped (every instance), then start the service with the new KEK. Run
again after an interruption: keys already under the new KEK are left alone.
"""
import importlib
import os

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from gongwen_common.keywrap import KeyEncryptionKey

# service -> the module whose rewrap_all(session, old, new) re-wraps its keys
KEYS = {"identity": "gongwen_identity.domain.tokens", "seal": "gongwen_seal.domain.keys",
        "archive": "gongwen_archive.domain.ledger"}


def add_command(sub) -> None:
    parser = sub.add_parser("rekey", help="re-wrap a service's keys under a new KEK "
                                          "(GONGWEN_OLD_KEK → GONGWEN_NEW_KEK)")
    parser.add_argument("service", choices=sorted(KEYS))
    parser.add_argument("--url", required=True, help="the service's DATABASE_URL")


def _kek(name: str) -> KeyEncryptionKey:
    return KeyEncryptionKey.from_config(os.environ.get(name), setting=name, purpose="KEK rotation",
                                        development=False)


def rekey(service: str, url: str, old: KeyEncryptionKey, new: KeyEncryptionKey) -> int:
    """How many keys were re-wrapped; raises (and changes nothing) if any does not open under ``old``."""
    rewrap_all = importlib.import_module(KEYS[service]).rewrap_all
    engine = create_engine(url)
    try:
        with Session(engine) as session, session.begin():
            count = rewrap_all(session, old, new)
        with Session(engine) as session, session.begin():  # a second pass finds nothing left under the old KEK
            if rewrap_all(session, old, new):
                raise RuntimeError("keys remained under the old KEK after the rotation")
        return count
    finally:
        engine.dispose()


def main(args) -> int:
    old, new = _kek("GONGWEN_OLD_KEK"), _kek("GONGWEN_NEW_KEK")
    count = rekey(args.service, args.url, old, new)
    print(f"{args.service}: {count} key(s) re-wrapped from KEK {old.kek_id} to {new.kek_id}; none remains under "
          f"the old one. Start {args.service} with the new KEK.")
    return 0
