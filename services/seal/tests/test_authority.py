"""The operator CA (根证书) and seal certificates: profile, openssl acceptance, subject fields."""
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID

from gongwen_seal.authority import (
    certificate_pem,
    create_root,
    issue_seal_certificate,
    seal_serial_of,
    unit_code_of,
    unit_name_of,
)

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
UNIT_NAME = "中华人民共和国国务院办公厅"
UNIT_CODE = "11100000000013127D"


@pytest.fixture(scope="module")
def seal_root():
    return create_root(NOW)


def issue(root, *, now=NOW, key=None, **overrides):
    root_key, root_cert = root
    arguments = dict(unit_code=UNIT_CODE, unit_name=UNIT_NAME, seal_serial="GW-2026-0001",
                     public_key=(key or ec.generate_private_key(ec.SECP256R1())).public_key(),
                     not_before=now, not_after=now + timedelta(days=730))
    return issue_seal_certificate(root_key, root_cert, **{**arguments, **overrides})


def extension(cert, oid):
    return cert.extensions.get_extension_for_oid(oid)


def test_the_root_profile(seal_root):
    key, root = seal_root
    assert isinstance(key.curve, ec.SECP256R1) and root.public_key() == key.public_key()
    assert root.subject == root.issuer == x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Gongwen"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Gongwen Seal Root CA")])
    root.verify_directly_issued_by(root)
    assert root.not_valid_before_utc == NOW - timedelta(minutes=5)
    assert root.not_valid_after_utc == NOW.replace(year=2046)
    assert 0 < root.serial_number < 2 ** 159
    constraints = extension(root, ExtensionOID.BASIC_CONSTRAINTS)
    assert constraints.critical and constraints.value == x509.BasicConstraints(ca=True, path_length=0)
    usage = extension(root, ExtensionOID.KEY_USAGE)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    ski = extension(root, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value
    assert extension(root, ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value.key_identifier == ski.digest


def test_roots_have_random_serials_and_take_names_and_years():
    _, first = create_root(NOW, common_name="测试根证书", organization="某某省", years=10)
    _, second = create_root(NOW)
    assert first.serial_number != second.serial_number
    assert first.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "测试根证书"
    assert first.not_valid_after_utc == NOW.replace(year=2036)
    leap = datetime(2028, 2, 29, tzinfo=UTC)
    assert create_root(leap, years=1)[1].not_valid_after_utc == datetime(2029, 2, 28, tzinfo=UTC)
    with pytest.raises(ValueError):
        create_root(datetime(2026, 1, 1))  # naive: which time zone?


def test_the_seal_certificate_profile(seal_root):
    root_key, root = seal_root
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue(seal_root, key=key)
    cert.verify_directly_issued_by(root)
    assert cert.public_key() == key.public_key() and cert.issuer == root.subject
    assert (cert.not_valid_before_utc, cert.not_valid_after_utc) == (NOW, NOW + timedelta(days=730))
    assert 0 < cert.serial_number < 2 ** 159 and cert.serial_number != root.serial_number
    assert cert.signature_hash_algorithm.name == "sha256"
    subject = {attr.oid: attr.value for attr in cert.subject}
    assert subject == {NameOID.COUNTRY_NAME: "CN", NameOID.ORGANIZATION_NAME: UNIT_NAME,
                       NameOID.ORGANIZATIONAL_UNIT_NAME: "电子印章", NameOID.ORGANIZATION_IDENTIFIER: UNIT_CODE,
                       NameOID.SERIAL_NUMBER: "GW-2026-0001", NameOID.COMMON_NAME: UNIT_NAME}
    constraints = extension(cert, ExtensionOID.BASIC_CONSTRAINTS)
    assert constraints.critical and constraints.value == x509.BasicConstraints(ca=False, path_length=None)
    usage = extension(cert, ExtensionOID.KEY_USAGE)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not (usage.value.key_cert_sign or usage.value.crl_sign or usage.value.key_encipherment)
    assert extension(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest \
        == x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest
    assert extension(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value.key_identifier \
        == extension(root, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE)


def test_the_unit_is_read_back_from_the_certificate_chinese_included(seal_root):
    cert = x509.load_pem_x509_certificate(certificate_pem(issue(seal_root)).encode())
    assert (unit_code_of(cert), unit_name_of(cert), seal_serial_of(cert)) == (UNIT_CODE, UNIT_NAME, "GW-2026-0001")
    # Chinese is carried as UTF8String, not mangled into another string type.
    utf8 = UNIT_NAME.encode()
    assert bytes([0x0C, len(utf8)]) + utf8 in cert.subject.public_bytes()  # 0x0C: UTF8String
    assert (unit_code_of(seal_root[1]), seal_serial_of(seal_root[1])) == (None, None)


@pytest.mark.parametrize("overrides", [
    {"unit_code": ""}, {"unit_name": " "}, {"seal_serial": ""},
    {"seal_serial": "印章-1"}, {"seal_serial": "GW_0001"},  # serialNumber is a PrintableString
    {"not_after": NOW}, {"not_before": NOW - timedelta(days=1)},  # empty, or before the root
    {"not_after": NOW.replace(year=2047)},  # outlives the root
    {"not_before": datetime(2026, 3, 1, 8, 0)},  # naive
    {"public_key": ec.generate_private_key(ec.SECP384R1()).public_key()},
])
def test_bad_requests_are_refused(seal_root, overrides):
    with pytest.raises(ValueError):
        issue(seal_root, **overrides)


def test_only_the_root_key_may_issue(seal_root):
    _, root = seal_root
    with pytest.raises(ValueError):
        issue((ec.generate_private_key(ec.SECP256R1()), root))


def test_openssl_accepts_the_chain_for_seal_signing(tmp_path):
    # openssl checks validity at the real current time, so this chain is made around it.
    now = datetime.now(UTC)
    root = create_root(now)
    cert = issue(root, now=now)
    (tmp_path / "ca.pem").write_text(certificate_pem(root[1]))
    (tmp_path / "leaf.pem").write_text(certificate_pem(cert))
    for purpose in ([], ["-purpose", "smimesign"]):
        verified = subprocess.run(["openssl", "verify", *purpose, "-CAfile", "ca.pem", "leaf.pem"], cwd=tmp_path,
                                  capture_output=True, text=True, timeout=60)
        assert verified.returncode == 0 and verified.stdout.strip() == "leaf.pem: OK", verified.stderr
    stranger = create_root(now, common_name="Gongwen Seal Root CA")  # same name, another key
    (tmp_path / "other.pem").write_text(certificate_pem(stranger[1]))
    refused = subprocess.run(["openssl", "verify", "-CAfile", "other.pem", "leaf.pem"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
