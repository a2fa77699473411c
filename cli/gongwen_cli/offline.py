"""Offline verification (离线验章) of a sealed manifest: no network, no server, only the CA certificate.

Checks what the files alone can prove, in the seal service's order: the CMS signature and the
chain to the CA (``gongwen_common.cms``), the signing unit against the claimed one, and the
parts' digests (``gongwen_common.manifest``). Revocation is known only to the seal service, so
a seal revoked before it was used still verifies here; ``POST /api/v1/seals/verify`` tells.

The unit code and seal serial are read from the certificate subject directly rather than through
``gongwen_seal.authority``: the CLI is installed on department hosts without the services.
"""
import base64
import binascii
import re

from cryptography import x509
from cryptography.x509.oid import NameOID

from gongwen_common import cms
from gongwen_common import manifest as manifests

UNIT_MISMATCH = "UNIT_MISMATCH"
REVOCATION_NOTE = "revocation is not checked offline: use POST /api/v1/seals/verify for that"

_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/=\s]+")
_PEM_BLOCK = re.compile(rb"-----BEGIN [A-Z0-9 ]+-----(.*?)-----END [A-Z0-9 ]+-----", re.S)


def _subject_value(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    values = certificate.subject.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


def unit_code_of(certificate: x509.Certificate) -> str | None:
    """The unit code of a seal certificate (subject organizationIdentifier)."""
    return _subject_value(certificate, NameOID.ORGANIZATION_IDENTIFIER)


def seal_serial_of(certificate: x509.Certificate) -> str | None:
    """The seal serial of a seal certificate (subject serialNumber)."""
    return _subject_value(certificate, NameOID.SERIAL_NUMBER)


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
    checked = cms.verify(manifest, signature_der(signature), load_ca_certificates(ca_pem))
    certificate = checked.signer_certificate
    result = {"valid": False, "reason": checked.reason,
              "unit_code": unit_code_of(certificate) if certificate is not None else None,
              "seal_serial": seal_serial_of(certificate) if certificate is not None else None,
              "signed_at": checked.signing_time.isoformat() if checked.signing_time else None}
    if not checked.valid:
        return result
    try:
        document = manifests.parse(manifest)
    except ValueError:
        # Signed bytes that are not a manifest: nothing names the issuer or the parts, so a given
        # body or attachment cannot match (check_digests answers DIGEST_MISMATCH for them).
        document = {}
    claimed = unit_code if unit_code is not None else document.get("issuer_code")
    if claimed is not None and claimed != result["unit_code"]:
        return {**result, "reason": UNIT_MISMATCH}
    problem = manifests.check_digests(document, body, attachments) if (body is not None or attachments) else None
    if problem:
        return {**result, "reason": problem}
    return {**result, "valid": True, "reason": None}
