"""Detached CMS SignedData (RFC 5652, DER) with ECDSA P-256 / SHA-256: how an electronic seal
(电子印章) signs a document manifest, readable by ``openssl cms -verify`` and other CMS tools.

Built with asn1crypto rather than cryptography's ``PKCS7SignatureBuilder`` because that one
always stamps the wall clock as the signing time; here the signing time is an argument, so the
seal service can sign at the time its own clock says and tests can sign at any time.

Profile of what :func:`seal` makes: SignedData version 1; digestAlgorithms {sha256};
encapContentInfo id-data without eContent (detached); certificates = the signer's certificate;
one SignerInfo (version 1, issuerAndSerialNumber) with signed attributes contentType,
signingTime, messageDigest and cmsAlgorithmProtection (RFC 6211); signatureAlgorithm
ecdsa-with-SHA256 (sha256 is written with NULL parameters, as asn1crypto always does; RFC 5754
requires verifiers to accept both forms).

:func:`verify` never raises for bad input; it answers a :class:`CmsVerification` whose reason
is one of the codes below, checked in this order: parse, signature and digest, issuer, validity.
"""
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

MALFORMED_SIGNATURE = "MALFORMED_SIGNATURE"
SIGNATURE_INVALID = "SIGNATURE_INVALID"
UNKNOWN_ISSUER = "UNKNOWN_ISSUER"
CERT_EXPIRED = "CERT_EXPIRED"

# Signers that put the bare key algorithm (id-ecPublicKey) in signatureAlgorithm are seen in the
# wild; with digestAlgorithm sha256 it means the same as ecdsa-with-SHA256.
_ECDSA_SHA256 = {"sha256_ecdsa", "ecdsa"}


@dataclass(frozen=True)
class CmsVerification:
    """The outcome of :func:`verify`. Whatever could be read is filled in even when invalid."""

    valid: bool
    reason: str | None
    signer_certificate: x509.Certificate | None = None
    signing_time: datetime | None = None
    issuer_certificate: x509.Certificate | None = None


class _Malformed(Exception):
    pass


def seal(content: bytes, certificate: x509.Certificate, private_key: ec.EllipticCurvePrivateKey,
         signing_time: datetime) -> bytes:
    """DER ContentInfo of a detached SignedData over ``content``, signed at ``signing_time`` (tz-aware)."""
    return SealTemplate(certificate, private_key).seal(content, signing_time)


def _tlv(tag: int, contents: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(contents)) + contents


_SEQUENCE, _SET, _OCTET_STRING, _UTC_TIME, _GENERALIZED_TIME, _CONTEXT_0 = 0x30, 0x31, 0x04, 0x17, 0x18, 0xA0


@dataclass(frozen=True)
class _Encoded:
    """The DER every seal shares, encoded by asn1crypto once per process."""

    attrs: list  # the constant signed attributes: contentType id-data, cmsAlgorithmProtection
    signing_time_type: bytes
    message_digest_type: bytes
    digest_algorithm: bytes
    digest_algorithms: bytes
    signature_algorithm: bytes
    encapsulated: bytes
    signed_data_type: bytes
    integer_1: bytes

    @classmethod
    def make(cls) -> "_Encoded":
        digest_algorithm = algos.DigestAlgorithm({"algorithm": "sha256"})
        signature_algorithm = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
        return cls(
            attrs=[cms.CMSAttribute({"type": "content_type", "values": ["data"]}).dump(),
                   cms.CMSAttribute({"type": "cms_algorithm_protection", "values": [cms.CMSAlgorithmProtection({
                       "digest_algorithm": digest_algorithm, "signature_algorithm": signature_algorithm})]}).dump()],
            signing_time_type=cms.CMSAttributeType("signing_time").dump(),
            message_digest_type=cms.CMSAttributeType("message_digest").dump(),
            digest_algorithm=digest_algorithm.dump(),
            digest_algorithms=cms.DigestAlgorithms([digest_algorithm]).dump(),
            signature_algorithm=signature_algorithm.dump(),
            encapsulated=cms.ContentInfo({"content_type": "data"}).dump(),
            signed_data_type=cms.ContentType("signed_data").dump(),
            integer_1=cms.Integer(1).dump(),
        )


_CONSTANT = _Encoded.make()


class SealTemplate:
    """One seal's SignedData with everything that does not change between documents encoded once.

    asn1crypto encodes the algorithms and the constant signed attributes (contentType,
    cmsAlgorithmProtection) once per process, the certificate is embedded as issued and the
    signer's identifier is taken from it once per seal; :meth:`seal` only encodes the
    two attributes that change (signingTime, messageDigest), signs them and splices the DER
    together: the same bytes asn1crypto would make (a test re-encodes one and compares), at about
    the cost of the ECDSA signature itself instead of ~80 times it.
    """

    def __init__(self, certificate: x509.Certificate, private_key: ec.EllipticCurvePrivateKey):
        # A seal no verifier could accept is better refused here than discovered by the recipient.
        if private_key.public_key() != certificate.public_key():
            raise ValueError("private_key is not the key of certificate")
        self._key = private_key
        certificate_der = certificate.public_bytes(serialization.Encoding.DER)
        signer = asn1_x509.Certificate.load(certificate_der)
        sid = _tlv(_SEQUENCE, signer.issuer.dump() + cms.Integer(signer.serial_number).dump())
        self._signer_info_head = _CONSTANT.integer_1 + sid + _CONSTANT.digest_algorithm
        # SignedData up to its signerInfos: version 1, {sha256}, detached id-data, [0] the certificate as issued.
        self._signed_data_head = (_CONSTANT.integer_1 + _CONSTANT.digest_algorithms + _CONSTANT.encapsulated
                                  + _tlv(_CONTEXT_0, certificate_der))

    def _time_attribute(self, moment: datetime) -> bytes:
        # RFC 5652 §11.3: UTCTime for 1950–2049, GeneralizedTime otherwise, both without fractions.
        if 1950 <= moment.year < 2050:
            value = _tlv(_UTC_TIME, moment.strftime("%y%m%d%H%M%SZ").encode())
        else:
            value = _tlv(_GENERALIZED_TIME, f"{moment.year:04d}{moment.strftime('%m%d%H%M%S')}Z".encode())
        return _tlv(_SEQUENCE, _CONSTANT.signing_time_type + _tlv(_SET, value))

    def seal(self, content: bytes, signing_time: datetime) -> bytes:
        """DER ContentInfo of a detached SignedData over ``content``, signed at ``signing_time`` (tz-aware)."""
        if signing_time.tzinfo is None or signing_time.utcoffset() is None:
            raise ValueError("signing_time must be a timezone-aware datetime")
        signing_time = signing_time.astimezone(UTC).replace(microsecond=0)
        digest = _tlv(_SEQUENCE, _CONSTANT.message_digest_type + _tlv(_SET, _tlv(
            _OCTET_STRING, hashlib.sha256(content).digest())))
        # DER orders a SET OF by its members' encodings (X.690 §11.6), as asn1crypto does; it matters:
        # OpenSSL re-encodes the attributes in DER before checking.
        attrs = b"".join(sorted([*_CONSTANT.attrs, self._time_attribute(signing_time), digest]))
        # RFC 5652 §5.4: the signature covers the attributes as an explicit SET OF (tag 0x31), not the
        # [0] IMPLICIT form they take inside SignerInfo.
        signature = self._key.sign(_tlv(_SET, attrs), ec.ECDSA(hashes.SHA256()))
        signer_info = _tlv(_SEQUENCE, self._signer_info_head + _tlv(_CONTEXT_0, attrs) + _CONSTANT.signature_algorithm
                           + _tlv(_OCTET_STRING, signature))
        signed_data = _tlv(_SEQUENCE, self._signed_data_head + _tlv(_SET, signer_info))
        return _tlv(_SEQUENCE, _CONSTANT.signed_data_type + _tlv(_CONTEXT_0, signed_data))


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def _single_attribute(signed_attrs: cms.CMSAttributes, name: str):
    """The one value of the signed attribute ``name``; RFC 5652 allows neither repeats nor several values."""
    found = [attr for attr in signed_attrs if attr["type"].native == name]
    if len(found) > 1:
        raise _Malformed(f"signed attribute {name} appears twice")
    if not found:
        return None
    values = found[0]["values"]
    if len(values) != 1:
        raise _Malformed(f"signed attribute {name} must have exactly one value")
    return values[0]


def _signer_certificate(signed_data: cms.SignedData, sid: cms.SignerIdentifier) -> asn1_x509.Certificate:
    for choice in signed_data["certificates"] or []:
        if choice.name != "certificate":
            continue
        candidate = choice.chosen
        if sid.name == "issuer_and_serial_number":
            if (candidate.serial_number == sid.chosen["serial_number"].native
                    and candidate.issuer == sid.chosen["issuer"]):
                return candidate
        elif sid.name == "subject_key_identifier" and candidate.key_identifier == sid.chosen.native:
            return candidate
    raise _Malformed("the signer's certificate is not embedded")


@dataclass(frozen=True)
class _Parsed:
    signer_info: cms.SignerInfo
    certificate: x509.Certificate
    signing_time: datetime
    message_digest: bytes
    signed_attrs_der: bytes


def _parse(signature_der: bytes) -> _Parsed:
    content_info = cms.ContentInfo.load(bytes(signature_der), strict=True)
    if content_info["content_type"].native != "signed_data":
        raise _Malformed("not a CMS SignedData")
    signed_data = content_info["content"]
    encap = signed_data["encap_content_info"]
    if encap["content_type"].native != "data" or encap["content"].native is not None:
        raise _Malformed("expected detached id-data content")
    signer_infos = signed_data["signer_infos"]
    if len(signer_infos) != 1:
        raise _Malformed("expected exactly one signer")
    signer_info = signer_infos[0]
    # Not covered by the signature, but a SignedData that misstates them is not one we made or expect.
    expected_version = {"issuer_and_serial_number": "v1", "subject_key_identifier": "v3"}[signer_info["sid"].name]
    if signed_data["version"].native not in ("v1", "v3") or signer_info["version"].native != expected_version:
        raise _Malformed("unexpected SignedData or SignerInfo version")
    if signer_info["digest_algorithm"].native not in [a.native for a in signed_data["digest_algorithms"]]:
        raise _Malformed("the signer's digest algorithm is not listed in digestAlgorithms")
    signed_attrs = signer_info["signed_attrs"]
    # Without signed attributes the signature would cover the content alone, with no signing time.
    if not isinstance(signed_attrs, cms.CMSAttributes) or len(signed_attrs) == 0:
        raise _Malformed("no signed attributes")
    content_type = _single_attribute(signed_attrs, "content_type")
    message_digest = _single_attribute(signed_attrs, "message_digest")
    signing_time = _single_attribute(signed_attrs, "signing_time")
    if content_type is None or content_type.native != "data" or message_digest is None or signing_time is None:
        raise _Malformed("contentType (id-data), messageDigest and signingTime must be signed")
    signing_time = signing_time.native
    if not isinstance(signing_time, datetime) or signing_time.tzinfo is None:
        raise _Malformed("signingTime is not a usable time")
    certificate = x509.load_der_x509_certificate(_signer_certificate(signed_data, signer_info["sid"]).dump())
    # Sign over the attributes as received, re-tagged from [0] IMPLICIT to SET OF (RFC 5652 §5.4).
    contents = signed_attrs.contents
    return _Parsed(signer_info=signer_info, certificate=certificate, signing_time=signing_time.astimezone(UTC),
                   message_digest=message_digest.native,
                   signed_attrs_der=b"\x31" + _der_length(len(contents)) + contents)


def _signature_problem(content: bytes, parsed: _Parsed) -> str | None:
    signer_info = parsed.signer_info
    digest_algorithm, signature_algorithm = signer_info["digest_algorithm"], signer_info["signature_algorithm"]
    if digest_algorithm["algorithm"].native != "sha256" \
            or signature_algorithm["algorithm"].native not in _ECDSA_SHA256:
        return SIGNATURE_INVALID
    protection = _single_attribute(signer_info["signed_attrs"], "cms_algorithm_protection")
    # RFC 6211: when present, the signed algorithms must be the ones used, or an attacker swapped them.
    if protection is not None and (protection["digest_algorithm"].native != digest_algorithm.native
                                   or protection["signature_algorithm"].native != signature_algorithm.native):
        return SIGNATURE_INVALID
    if not isinstance(parsed.message_digest, bytes) \
            or hashlib.sha256(content).digest() != parsed.message_digest:
        return SIGNATURE_INVALID
    public_key = parsed.certificate.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        return SIGNATURE_INVALID
    try:
        public_key.verify(signer_info["signature"].native, parsed.signed_attrs_der, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return SIGNATURE_INVALID
    return None


def _issuer(certificate: x509.Certificate, trusted_roots: list[x509.Certificate]) -> x509.Certificate | None:
    for root in trusted_roots:
        if certificate.issuer != root.subject:
            continue
        try:
            certificate.verify_directly_issued_by(root)
        except Exception:  # bad signature, or an algorithm the root's key cannot check: not this root
            continue
        return root
    return None


def verify(content: bytes, signature_der: bytes, trusted_roots: list[x509.Certificate]) -> CmsVerification:
    """Check a detached CMS signature over ``content`` against the ``trusted_roots`` (the operator's CAs).

    Reasons: ``MALFORMED_SIGNATURE`` (not a SignedData of this profile, or the signer's
    certificate is not embedded), ``SIGNATURE_INVALID`` (the content's digest or the ECDSA
    signature does not match, or an algorithm other than SHA-256 / ECDSA is claimed),
    ``UNKNOWN_ISSUER`` (no trusted root issued the signer's certificate), ``CERT_EXPIRED`` (the
    signing time is outside the certificate's validity).
    A manifest's own part digests are checked elsewhere (``gongwen_common.manifest``).
    """
    try:
        parsed = _parse(signature_der)
    except Exception:  # any parse failure of untrusted input is a malformed signature, never a crash
        return CmsVerification(False, MALFORMED_SIGNATURE)
    found = {"signer_certificate": parsed.certificate, "signing_time": parsed.signing_time}
    try:
        problem = _signature_problem(content, parsed)
    except Exception:  # e.g. a signature value that is not a DER ECDSA-Sig-Value
        problem = SIGNATURE_INVALID
    if problem:
        return CmsVerification(False, problem, **found)
    issuer = _issuer(parsed.certificate, trusted_roots)
    if issuer is None:
        return CmsVerification(False, UNKNOWN_ISSUER, **found)
    certificate = parsed.certificate
    if not certificate.not_valid_before_utc <= parsed.signing_time <= certificate.not_valid_after_utc:
        return CmsVerification(False, CERT_EXPIRED, **found, issuer_certificate=issuer)
    return CmsVerification(True, None, **found, issuer_certificate=issuer)
