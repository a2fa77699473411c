"""Detached CMS SignedData: our own verification and, both ways, the system's openssl."""
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import cms as asn1_cms
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gongwen_common import cms
from gongwen_common.manifest import canonical_bytes
from gongwen_seal.authority import certificate_pem, create_root, issue_seal_certificate

CONTENT = canonical_bytes({"title": "关于印发《公文交换管理办法》的通知", "body_sha256": "00" * 32, "attachments": []})


class Pki:
    """A root and one seal certificate, valid around ``now``."""

    def __init__(self, now, *, common_name="Gongwen Seal Root CA"):
        self.now = now
        self.not_before, self.not_after = now - timedelta(minutes=5), now + timedelta(days=365)
        self.root_key, self.root = create_root(now, common_name=common_name)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.leaf = issue_seal_certificate(self.root_key, self.root, unit_code="11110000000000001X",
                                           unit_name="国务院办公厅", seal_serial="GW-0001",
                                           public_key=self.key.public_key(), not_before=self.not_before,
                                           not_after=self.not_after)

    def seal(self, content=CONTENT, at=None):
        return cms.seal(content, self.leaf, self.key, at or self.now)


@pytest.fixture(scope="module")
def cms_pki():
    # openssl checks certificates at the real current time, so this PKI is valid now.
    return Pki(datetime.now(UTC).replace(microsecond=0))


def rebuilt(signature_der, key, *, attrs=None, certificates=None, resign=True):
    """``signature_der`` with its signed attributes or certificates replaced, signed again by ``key``."""
    content_info = asn1_cms.ContentInfo.load(signature_der)
    signed_data = content_info["content"]
    signer_info = signed_data["signer_infos"][0]
    if attrs is not None:
        signer_info["signed_attrs"] = asn1_cms.CMSAttributes(attrs(list(signer_info["signed_attrs"])))
    if certificates is not None:
        signed_data["certificates"] = certificates
    if resign:
        to_sign = asn1_cms.CMSAttributes(list(signer_info["signed_attrs"])).dump(force=True)
        signer_info["signature"] = key.sign(to_sign, ec.ECDSA(hashes.SHA256()))
    return content_info.dump(force=True)


def test_a_seal_verifies_and_tells_who_signed_when(cms_pki):
    signed_at = cms_pki.now + timedelta(hours=1, microseconds=123456)
    result = cms.verify(CONTENT, cms_pki.seal(at=signed_at), [cms_pki.root])
    assert result == cms.CmsVerification(valid=True, reason=None, signer_certificate=cms_pki.leaf,
                                         signing_time=signed_at.replace(microsecond=0),
                                         issuer_certificate=cms_pki.root)
    assert result.signing_time.tzinfo is UTC


def test_the_signing_time_is_kept_in_any_time_zone(cms_pki):
    beijing = cms_pki.now.astimezone(datetime.strptime("+0800", "%z").tzinfo)
    assert cms.verify(CONTENT, cms_pki.seal(at=beijing), [cms_pki.root]).signing_time == cms_pki.now
    with pytest.raises(ValueError):
        cms_pki.seal(at=datetime(2026, 1, 1))


def test_the_signature_is_detached_der_of_the_profile(cms_pki):
    content_info = asn1_cms.ContentInfo.load(cms_pki.seal())
    signed_data = content_info["content"]
    assert content_info["content_type"].native == "signed_data" and signed_data["version"].native == "v1"
    assert [a["algorithm"].native for a in signed_data["digest_algorithms"]] == ["sha256"]
    assert signed_data["encap_content_info"]["content"].native is None
    assert signed_data["encap_content_info"]["content_type"].native == "data"
    assert len(signed_data["certificates"]) == 1
    (signer_info,) = signed_data["signer_infos"]
    assert signer_info["version"].native == "v1" and signer_info["sid"].name == "issuer_and_serial_number"
    assert signer_info["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"
    assert {a["type"].native for a in signer_info["signed_attrs"]} == {
        "content_type", "signing_time", "message_digest", "cms_algorithm_protection"}
    signing_time = next(a for a in signer_info["signed_attrs"] if a["type"].native == "signing_time")
    assert signing_time["values"][0].name == "utc_time"


def test_after_2049_the_signing_time_is_a_generalized_time():
    pki = Pki(datetime(2049, 12, 31, 23, 0, tzinfo=UTC))
    at = datetime(2050, 1, 2, 3, 4, 5, tzinfo=UTC)
    signature = pki.seal(at=at)
    attrs = asn1_cms.ContentInfo.load(signature)["content"]["signer_infos"][0]["signed_attrs"]
    assert next(a for a in attrs if a["type"].native == "signing_time")["values"][0].name == "generalized_time"
    assert cms.verify(CONTENT, signature, [pki.root]).signing_time == at


def test_one_flipped_content_byte_is_an_invalid_signature(cms_pki):
    tampered = bytearray(CONTENT)
    tampered[10] ^= 0x01
    result = cms.verify(bytes(tampered), cms_pki.seal(), [cms_pki.root])
    assert (result.valid, result.reason) == (False, "SIGNATURE_INVALID")
    assert result.signer_certificate == cms_pki.leaf  # still says who claimed to sign


def test_a_signature_by_another_key_under_the_same_certificate_is_invalid(cms_pki):
    other_key = ec.generate_private_key(ec.SECP256R1())
    forged = rebuilt(cms_pki.seal(), other_key)
    assert cms.verify(CONTENT, forged, [cms_pki.root]).reason == "SIGNATURE_INVALID"
    # and seal() itself refuses a key that is not the certificate's
    with pytest.raises(ValueError):
        cms.seal(CONTENT, cms_pki.leaf, other_key, cms_pki.now)


def test_signed_attributes_changed_after_signing_are_an_invalid_signature(cms_pki):
    def later(attrs):
        return [asn1_cms.CMSAttribute({"type": "signing_time", "values": [
            asn1_cms.Time({"utc_time": cms_pki.now + timedelta(days=1)})]})
            if a["type"].native == "signing_time" else a for a in attrs]

    assert cms.verify(CONTENT, rebuilt(cms_pki.seal(), None, attrs=later, resign=False),
                      [cms_pki.root]).reason == "SIGNATURE_INVALID"


def test_an_algorithm_protection_that_disagrees_is_an_invalid_signature(cms_pki):
    def sha512_claimed(attrs):
        return [asn1_cms.CMSAttribute({"type": "cms_algorithm_protection", "values": [
            asn1_cms.CMSAlgorithmProtection({"digest_algorithm": {"algorithm": "sha512"},
                                             "signature_algorithm": {"algorithm": "sha256_ecdsa"}})]})
            if a["type"].native == "cms_algorithm_protection" else a for a in attrs]

    signature = rebuilt(cms_pki.seal(), cms_pki.key, attrs=sha512_claimed)
    assert cms.verify(CONTENT, signature, [cms_pki.root]).reason == "SIGNATURE_INVALID"


def test_a_certificate_from_another_ca_is_an_unknown_issuer(cms_pki):
    other = Pki(cms_pki.now, common_name="Another Root CA")
    result = cms.verify(CONTENT, other.seal(), [cms_pki.root])
    assert (result.valid, result.reason, result.issuer_certificate) == (False, "UNKNOWN_ISSUER", None)
    assert cms.verify(CONTENT, other.seal(), [cms_pki.root, other.root]).valid
    assert cms.verify(CONTENT, other.seal(), []).reason == "UNKNOWN_ISSUER"


def test_a_root_with_the_same_name_but_another_key_is_an_unknown_issuer(cms_pki):
    impostor = Pki(cms_pki.now)  # same subject name as cms_pki.root, another key
    assert impostor.root.subject == cms_pki.root.subject
    assert cms.verify(CONTENT, impostor.seal(), [cms_pki.root]).reason == "UNKNOWN_ISSUER"


def test_a_signing_time_outside_the_certificate_is_expired(cms_pki):
    for at in (cms_pki.not_after + timedelta(seconds=1), cms_pki.not_before - timedelta(seconds=1)):
        result = cms.verify(CONTENT, cms_pki.seal(at=at), [cms_pki.root])
        assert (result.valid, result.reason, result.signing_time) == (False, "CERT_EXPIRED", at)
        assert result.issuer_certificate == cms_pki.root
    for at in (cms_pki.not_after, cms_pki.not_before):  # the window's ends are inside it
        assert cms.verify(CONTENT, cms_pki.seal(at=at), [cms_pki.root]).valid


def test_checks_run_in_order_signature_before_issuer_before_validity(cms_pki):
    other = Pki(cms_pki.now, common_name="Another Root CA")
    late = other.seal(at=other.not_after + timedelta(days=1))
    assert cms.verify(CONTENT + b" ", late, [cms_pki.root]).reason == "SIGNATURE_INVALID"
    assert cms.verify(CONTENT, late, [cms_pki.root]).reason == "UNKNOWN_ISSUER"
    assert cms.verify(CONTENT, late, [other.root]).reason == "CERT_EXPIRED"


def _without(name):
    return lambda attrs: [a for a in attrs if a["type"].native != name]


def _twice(name):
    return lambda attrs: attrs + [a for a in attrs if a["type"].native == name]


@pytest.mark.parametrize("change", [_without("signing_time"), _without("message_digest"), _without("content_type"),
                                    _twice("signing_time")], ids=["no time", "no digest", "no type", "two times"])
def test_missing_or_repeated_signed_attributes_are_malformed(cms_pki, change):
    signature = rebuilt(cms_pki.seal(), cms_pki.key, attrs=change)
    assert cms.verify(CONTENT, signature, [cms_pki.root]) == cms.CmsVerification(False, "MALFORMED_SIGNATURE")


def test_a_signature_without_signed_attributes_is_malformed(cms_pki):
    content_info = asn1_cms.ContentInfo.load(cms_pki.seal())
    signer_info = content_info["content"]["signer_infos"][0]
    signer_info["signed_attrs"] = None  # RFC 5652 allows it: the signature is then over the content itself
    signer_info["signature"] = cms_pki.key.sign(CONTENT, ec.ECDSA(hashes.SHA256()))
    assert cms.verify(CONTENT, content_info.dump(force=True), [cms_pki.root]).reason == "MALFORMED_SIGNATURE"


def test_a_signature_without_its_certificate_is_malformed(cms_pki):
    signature = rebuilt(cms_pki.seal(), cms_pki.key, certificates=[])
    assert cms.verify(CONTENT, signature, [cms_pki.root]).reason == "MALFORMED_SIGNATURE"


@pytest.mark.parametrize("garbage", [b"", b"garbage", b"\x30\x03\x02\x01\x01", b"\x30\x80" + b"\x00" * 10,
                                     asn1_cms.ContentInfo({"content_type": "data", "content": b"x"}).dump()])
def test_garbage_is_malformed(cms_pki, garbage):
    assert cms.verify(CONTENT, garbage, [cms_pki.root]) == cms.CmsVerification(False, "MALFORMED_SIGNATURE")


def test_truncated_or_padded_signatures_are_malformed(cms_pki):
    signature = cms_pki.seal()
    for broken in (signature[:-1], signature[: len(signature) // 2], signature + b"\x00"):
        assert cms.verify(CONTENT, broken, [cms_pki.root]).reason == "MALFORMED_SIGNATURE"


def test_no_byte_flip_anywhere_verifies_or_raises(cms_pki):
    signature = cms_pki.seal()
    for index in range(len(signature)):
        flipped = bytearray(signature)
        flipped[index] ^= 0xFF
        result = cms.verify(CONTENT, bytes(flipped), [cms_pki.root])
        # Which reason depends on where the flip lands (inside the embedded certificate it reads
        # as another issuer); never valid, never an exception.
        assert result.reason in {"MALFORMED_SIGNATURE", "SIGNATURE_INVALID", "UNKNOWN_ISSUER"}, index


def _openssl_verify(tmp_path, content, signature, root):
    (tmp_path / "manifest.json").write_bytes(content)
    (tmp_path / "sig.p7s").write_bytes(signature)
    (tmp_path / "ca.pem").write_text(certificate_pem(root))
    return subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "sig.p7s",
                           "-content", "manifest.json", "-CAfile", "ca.pem", "-out", "/dev/null"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)


def test_openssl_verifies_our_seal_and_refuses_a_flipped_byte(cms_pki, tmp_path):
    signature = cms_pki.seal(at=cms_pki.now + timedelta(minutes=1))
    accepted = _openssl_verify(tmp_path, CONTENT, signature, cms_pki.root)
    assert accepted.returncode == 0, accepted.stderr
    tampered = bytearray(CONTENT)
    tampered[-2] ^= 0x01
    refused = _openssl_verify(tmp_path, bytes(tampered), signature, cms_pki.root)
    assert refused.returncode != 0 and "Verification failure" in refused.stderr
    other = Pki(cms_pki.now, common_name="Another Root CA")
    assert _openssl_verify(tmp_path, CONTENT, signature, other.root).returncode != 0


def test_we_verify_what_openssl_signs(cms_pki, tmp_path):
    (tmp_path / "manifest.json").write_bytes(CONTENT)
    (tmp_path / "leaf.pem").write_text(certificate_pem(cms_pki.leaf))
    (tmp_path / "key.pem").write_bytes(cms_pki.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    signed = subprocess.run(["openssl", "cms", "-sign", "-binary", "-md", "sha256", "-in", "manifest.json",
                             "-signer", "leaf.pem", "-inkey", "key.pem", "-outform", "DER", "-out", "sig.p7s"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert signed.returncode == 0, signed.stderr
    result = cms.verify(CONTENT, (tmp_path / "sig.p7s").read_bytes(), [cms_pki.root])
    assert result.valid and result.signer_certificate == cms_pki.leaf
    assert abs(result.signing_time - datetime.now(UTC)) < timedelta(minutes=5)
    assert cms.verify(CONTENT + b"\n", (tmp_path / "sig.p7s").read_bytes(), [cms_pki.root]).reason \
        == "SIGNATURE_INVALID"
