"""The operator CA and private keys at rest: every private key is stored only under envelope
encryption (``gongwen_common.keywrap``), its row's identity as associated data, so a
ciphertext moved to another row does not open."""
import functools

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy.exc import IntegrityError

from gongwen_common.keywrap import KeyUnavailable, WrappedSecret, unwrap_secret, wrap_secret

from .. import authority
from ..models import Authority

ROOT = "root"


def _pkcs8(private_key) -> bytes:
    return private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())


def store_key(row, private_key, kek, associated_data: bytes) -> None:
    wrapped = wrap_secret(kek, _pkcs8(private_key), associated_data)
    row.kek_id, row.wrapped_data_key, row.key_ciphertext = wrapped.kek_id, wrapped.wrapped_data_key, wrapped.ciphertext


def load_key(row, kek, associated_data: bytes):
    if row.key_ciphertext is None:
        raise KeyUnavailable("this key was destroyed")
    plain = unwrap_secret(kek, WrappedSecret(row.kek_id, row.wrapped_data_key, row.key_ciphertext), associated_data)
    return serialization.load_der_private_key(plain, password=None)


def shred_key(row) -> None:
    """Crypto-shredding: with the wrapped data key gone the ciphertext can never be opened."""
    row.kek_id = row.wrapped_data_key = row.key_ciphertext = None


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
