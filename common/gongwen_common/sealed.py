"""A sealed manifest as anyone can check it with the CA certificate alone: the CMS signature and
its chain (``cms``), the sealing unit read from the seal certificate against the claimed one, and
the parts against the manifest's digests. The seal service adds what only it knows (revocation);
``gongwen verify`` checks exactly this, offline.

A seal certificate names its unit in the subject: organizationIdentifier = unit code,
serialNumber = seal serial, O = unit name (see ``gongwen_seal.authority``).
"""
from cryptography import x509
from cryptography.x509.oid import NameOID

from . import cms
from . import manifest as manifests

UNIT_MISMATCH = "UNIT_MISMATCH"


def _subject_value(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    values = certificate.subject.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


def unit_code_of(certificate: x509.Certificate) -> str | None:
    """The unit code (organizationIdentifier) of a seal certificate."""
    return _subject_value(certificate, NameOID.ORGANIZATION_IDENTIFIER)


def seal_serial_of(certificate: x509.Certificate) -> str | None:
    """The seal serial (subject serialNumber) of a seal certificate."""
    return _subject_value(certificate, NameOID.SERIAL_NUMBER)


def unit_name_of(certificate: x509.Certificate) -> str | None:
    """The unit name (subject O) of a seal certificate."""
    return _subject_value(certificate, NameOID.ORGANIZATION_NAME)


def verify_sealed(manifest: bytes, signature: bytes, trusted_roots: list[x509.Certificate], unit_code=None,
                  body: bytes | None = None, attachments: dict[str, bytes] | None = None
                  ) -> tuple[dict, cms.CmsVerification]:
    """``({"valid", "reason", "unit_code", "seal_serial", "signed_at"}, the CMS check)``.

    Reasons, the first found: those of :func:`cms.verify`, then ``UNIT_MISMATCH`` (the seal is
    not ``unit_code``'s, or if none is given not the manifest's ``issuer_code``'s), then
    ``DIGEST_MISMATCH`` (a given body or attachment is not the one the manifest names).
    """
    checked = cms.verify(manifest, signature, trusted_roots)
    certificate = checked.signer_certificate
    result = {"valid": False, "reason": checked.reason,
              "unit_code": unit_code_of(certificate) if certificate is not None else None,
              "seal_serial": seal_serial_of(certificate) if certificate is not None else None,
              "signed_at": checked.signing_time.isoformat() if checked.signing_time else None}
    if not checked.valid:
        return result, checked
    try:
        document = manifests.parse(manifest)
    except ValueError:
        # Signed bytes that are not a manifest: nothing names the issuer or the parts, so a given
        # body or attachment cannot match (check_digests answers DIGEST_MISMATCH for them).
        document = {}
    claimed = unit_code if unit_code is not None else document.get("issuer_code")
    if claimed is not None and claimed != result["unit_code"]:
        return {**result, "reason": UNIT_MISMATCH}, checked
    problem = manifests.check_digests(document, body, attachments) if (body is not None or attachments) else None
    if problem:
        return {**result, "reason": problem}, checked
    return {**result, "valid": True, "reason": None}, checked
