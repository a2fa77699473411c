"""Offline verification (离线验章) of a sealed manifest: no network, no server, only the CA certificate.

Checks what the files alone can prove, in the seal service's order: the CMS signature and the
chain to the CA (``gongwen_common.cms``), the signing unit against the claimed one, and the
parts' digests (``gongwen_common.manifest``). Revocation is known only to the seal service, so
a seal revoked before it was used still verifies here; ``POST /api/v1/seals/verify`` tells.

The checks themselves are ``gongwen_common.sealed``'s, the same the seal service starts from;
the CLI is installed on department hosts without the services.
"""
import base64
import binascii
import re

from cryptography import x509

from gongwen_common import sealed
from gongwen_common.sealed import UNIT_MISMATCH, seal_serial_of, unit_code_of

__all__ = ["UNIT_MISMATCH", "load_ca_certificates", "seal_serial_of", "signature_der", "unit_code_of",
           "verify_offline"]
REVOCATION_NOTE = "revocation is not checked offline: use POST /api/v1/seals/verify for that"

_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/=\s]+")
_PEM_BLOCK = re.compile(rb"-----BEGIN [A-Z0-9 ]+-----(.*?)-----END [A-Z0-9 ]+-----", re.S)


def load_ca_certificates(ca: bytes) -> list[x509.Certificate]:
    """The certificates in a PEM file (several when the operator's CA was renewed) or one DER certificate.

    ``ValueError`` if there is none: that is a wrong file, not an invalid seal.
    """
    if b"-----BEGIN" in ca:
        try:
            return x509.load_pem_x509_certificates(ca)
        except ValueError:
            pass
    else:
        try:
            return [x509.load_der_x509_certificate(ca)]
        except ValueError:
            pass
    raise ValueError("the CA file holds no PEM or DER X.509 certificate")


def signature_der(signature: bytes) -> bytes:
    """The DER of a signature file as DER, PEM (``openssl cms -outform PEM``) or base64 (the API's form).

    Anything else is passed through unchanged, so :func:`cms.verify` calls it malformed.
    """
    pem = _PEM_BLOCK.search(signature)
    text = pem.group(1) if pem else signature
    # DER starts with 0x30 followed by a length byte outside printable ASCII for anything but tiny
    # values, so a whole file of base64 characters is text, never a DER SignedData.
    if _BASE64_TEXT.fullmatch(text):
        try:
            return base64.b64decode(b"".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            pass
    return signature


def verify_offline(manifest: bytes, signature: bytes, ca_pem: bytes, unit_code: str | None = None,
                   body: bytes | None = None, attachments: dict[str, bytes] | None = None) -> dict:
    """Verify a sealed manifest against the CA; ``{"valid", "reason", "unit_code", "seal_serial", "signed_at"}``.

    Reasons, the first found: those of :func:`gongwen_common.cms.verify`, then ``UNIT_MISMATCH``
    (the seal is not ``unit_code``'s, or if none is given not the manifest's ``issuer_code``'s),
    then ``DIGEST_MISMATCH`` (a given body or attachment is not the one the manifest names).
    ``ValueError`` only for a CA file without certificates.
    """
    result, _ = sealed.verify_sealed(manifest, signature_der(signature), load_ca_certificates(ca_pem), unit_code,
                                     body, attachments)
    return result
