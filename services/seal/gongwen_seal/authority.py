"""The operator's certificate authority (根证书) and the seal certificates it issues.

Profile (ECDSA P-256, SHA-256):

* Root: self-signed, subject C=CN, O, CN; basicConstraints CA:TRUE pathlen 0 and keyUsage
  keyCertSign + cRLSign, both critical; subject and authority key identifiers.
* Seal certificate (电子印章证书): subject C=CN, O=unit name, OU=电子印章, organizationIdentifier=
  unit code, serialNumber=seal serial, CN=unit name; basicConstraints CA:FALSE and keyUsage
  digitalSignature + contentCommitment (nonRepudiation), both critical; key identifiers.

No extendedKeyUsage: a seal signs documents, not e-mail or TLS, and a certificate without one
already passes ``openssl cms -verify``'s default S/MIME signing purpose check through its key usage.
Validity comes from the caller (injected time); nothing here reads the clock.
"""
import re
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gongwen_common.sealed import seal_serial_of, unit_code_of, unit_name_of

__all__ = ["CLOCK_SKEW", "SEAL_ORGANIZATIONAL_UNIT", "certificate_pem", "create_root", "issue_seal_certificate",
           "seal_serial_of", "unit_code_of", "unit_name_of"]

SEAL_ORGANIZATIONAL_UNIT = "电子印章"
# Roots are made on one machine and checked on others whose clocks may run a little behind.
CLOCK_SKEW = timedelta(minutes=5)
# X.520 serialNumber is a PrintableString: these characters only.
_PRINTABLE = re.compile(r"[A-Za-z0-9 '()+,\-./:=?]+")


def _aware(name: str, value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value


def _add_years(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February into a common year
        return moment.replace(year=moment.year + years, day=28)


def _serial() -> int:
    # 159 random bits: positive, at most 20 octets in DER, and unpredictable (CA/B BR §7.1 asks ≥ 64 bits).
    while not (serial := x509.random_serial_number()):
        pass
    return serial


def _require_p256(name: str, key) -> None:
    if not isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) \
            or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"{name} must be an ECDSA P-256 key")


def create_root(now: datetime, *, common_name: str = "Gongwen Seal Root CA", organization: str = "Gongwen",
                years: int = 20) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new root key and its self-signed certificate, valid from ``now`` (less clock skew) for ``years``."""
    now = _aware("now", now)
    if years < 1:
        raise ValueError("years must be at least 1")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])
    public_key = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(_serial())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(_add_years(now, years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def issue_seal_certificate(root_key: ec.EllipticCurvePrivateKey, root_cert: x509.Certificate, *, unit_code: str,
                           unit_name: str, seal_serial: str, public_key: ec.EllipticCurvePublicKey,
                           not_before: datetime, not_after: datetime) -> x509.Certificate:
    """The seal certificate of unit ``unit_code`` for ``public_key``, signed by the root.

    The certificate's own serial number is random (read it from ``.serial_number``); the seal's
    serial is the subject's serialNumber attribute. ``ValueError`` for a bad argument, including
    a validity window that is empty or outlives the root (it could not be verified then).
    """
    not_before, not_after = _aware("not_before", not_before), _aware("not_after", not_after)
    if not_before >= not_after:
        raise ValueError("not_before must be before not_after")
    if not_before < root_cert.not_valid_before_utc or not_after > root_cert.not_valid_after_utc:
        raise ValueError("the seal certificate must lie within the root certificate's validity")
    _require_p256("public_key", public_key)
    _require_p256("root_key", root_key)
    if root_key.public_key() != root_cert.public_key():
        raise ValueError("root_key is not the key of root_cert")
    for field, value in (("unit_code", unit_code), ("unit_name", unit_name), ("seal_serial", seal_serial)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{field} is required")
    if not _PRINTABLE.fullmatch(seal_serial) or len(seal_serial) > 64:
        raise ValueError("seal_serial must be at most 64 letters, digits or ' ()+,-./:=?")
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, unit_name),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, SEAL_ORGANIZATIONAL_UNIT),
        x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, unit_code),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, seal_serial),
        x509.NameAttribute(NameOID.COMMON_NAME, unit_name),
    ])
    try:
        root_ski = root_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        authority_key_id = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski)
    except x509.ExtensionNotFound:
        authority_key_id = x509.AuthorityKeyIdentifier.from_issuer_public_key(root_cert.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(root_cert.subject)
        .public_key(public_key)
        .serial_number(_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(authority_key_id, critical=False)
        .sign(root_key, hashes.SHA256())
    )


def certificate_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
