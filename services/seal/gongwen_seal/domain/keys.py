"""The operator CA and private keys at rest: every private key is stored only under envelope
encryption (``gongwen_common.keywrap``), its row's identity as associated data, so a
ciphertext moved to another row does not open."""
import functools

from cryptography import x509
from sqlalchemy.exc import IntegrityError

from gongwen_common.keywrap import load_key, rewrap_key, shred_key, store_key  # noqa: F401 (seal's callers use keys.*)

from .. import authority
from ..models import Authority, Seal

ROOT = "root"


def root(session, kek, now) -> tuple[Authority, x509.Certificate]:
    """The CA, made at first use. Two instances racing to make it: one insert wins, the other
    reads the winner's."""
    row = session.get(Authority, ROOT)
    if row is None:
        key, certificate = authority.create_root(now)
        row = Authority(id=ROOT, certificate_pem=authority.certificate_pem(certificate), created_at=now)
        store_key(row, key, kek, b"authority:" + ROOT.encode())
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            row = session.get(Authority, ROOT)
    return row, certificate_of(row.certificate_pem)


@functools.lru_cache(maxsize=32)
def certificate_of(pem: str) -> x509.Certificate:
    """A stored certificate, parsed once per process (every verification needs the CA's)."""
    return x509.load_pem_x509_certificate(pem.encode())


def root_key(session, kek, now):
    row, certificate = root(session, kek, now)
    return load_key(row, kek, b"authority:" + ROOT.encode()), certificate


def rewrap_all(session, old, new) -> int:
    """KEK rotation (``python -m gongwen_local rekey seal``): the CA's key and every seal's key that
    is not shredded, wrapped again under ``new``; how many were."""
    from .seals import seal_aad  # imported here: seals imports this module

    count = 0
    for row in session.query(Authority).with_for_update():
        count += rewrap_key(row, old, new, b"authority:" + row.id.encode())
    for row in session.query(Seal).filter(Seal.kek_id.is_not(None)).with_for_update():
        count += rewrap_key(row, old, new, seal_aad(row.serial))
    return count
