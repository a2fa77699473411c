"""``gongwen verify``: a sealed manifest checked offline against the CA, with real keys and real CMS."""
import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from gongwen_cli.main import app
from gongwen_common import cms
from gongwen_common.manifest import canonical_bytes, sha256_hex
from gongwen_seal.authority import certificate_pem, create_root, issue_seal_certificate

UNIT = "11110000000000001X"
OTHER_UNIT = "11110000000000002Y"
SEAL_SERIAL = "GW0123456789ABCD"
BODY = "关于印发《公文交换管理办法》的通知\n正文。".encode()
ATTACHMENT = b"%PDF-1.7 attachment"
NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)

runner = CliRunner()


@pytest.fixture(scope="module")
def pki():
    root_key, root = create_root(NOW - timedelta(days=1))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = issue_seal_certificate(root_key, root, unit_code=UNIT, unit_name="国务院办公厅", seal_serial=SEAL_SERIAL,
                                  public_key=key.public_key(), not_before=NOW - timedelta(hours=1),
                                  not_after=NOW + timedelta(days=365))
    return root, leaf, key


@pytest.fixture
def sealed(tmp_path, pki):
    """Files as a recipient holds them: manifest, signature (DER), CA, body and one attachment."""
    root, leaf, key = pki
    manifest = canonical_bytes({"title": "关于印发《公文交换管理办法》的通知", "issuer_code": UNIT,
                                "body_sha256": sha256_hex(BODY),
                                "attachments": [{"name": "附件1.pdf", "sha256": sha256_hex(ATTACHMENT),
                                                 "size": len(ATTACHMENT)}]})
    files = {"manifest": manifest, "signature": cms.seal(manifest, leaf, key, NOW),
             "ca": certificate_pem(root).encode(), "body": BODY, "attachment": ATTACHMENT}
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / name
        paths[name].write_bytes(data)
    return paths


def run(*args):
    return runner.invoke(app, ["verify", *map(str, args)])


def run_json(*args):
    result = run(*args, "--json")
    return result, json.loads(result.stdout)


def test_a_sealed_manifest_with_its_parts_is_valid(sealed):
    result = run(sealed["manifest"], sealed["signature"], "--ca", sealed["ca"], "--body", sealed["body"],
                 "--attachment", f"附件1.pdf={sealed['attachment']}")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "VALID"
    assert UNIT in result.output and SEAL_SERIAL in result.output and "2025-03-01T09:30:00+00:00" in result.output
    assert "revocation is not checked offline: use POST /api/v1/seals/verify for that" in result.output


def test_json_tells_who_sealed_it_and_when(sealed):
    result, answer = run_json(sealed["manifest"], sealed["signature"], "--ca", sealed["ca"], "--unit", UNIT)
    assert result.exit_code == 0
    assert answer == {"valid": True, "reason": None, "unit_code": UNIT, "seal_serial": SEAL_SERIAL,
                      "signed_at": "2025-03-01T09:30:00+00:00"}


def test_the_api_base64_form_of_the_signature_is_accepted(sealed):
    # POST /api/v1/seals answers the signature as base64; a recipient may save it as is.
    sealed["signature"].write_text(base64.b64encode(sealed["signature"].read_bytes()).decode() + "\n")
    assert run(sealed["manifest"], sealed["signature"], "--ca", sealed["ca"]).exit_code == 0


def test_one_flipped_byte_of_the_manifest_breaks_the_signature(sealed):
    data = bytearray(sealed["manifest"].read_bytes())
    data[len(data) // 2] ^= 0x01
    sealed["manifest"].write_bytes(bytes(data))
    result, answer = run_json(sealed["manifest"], sealed["signature"], "--ca", sealed["ca"])
    assert result.exit_code == 1
    assert answer["valid"] is False and answer["reason"] == "SIGNATURE_INVALID"


def test_a_seal_from_another_ca_is_of_an_unknown_issuer(sealed, tmp_path):
    _, stranger = create_root(NOW - timedelta(days=1), common_name="Gongwen Seal Root CA")
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(stranger.public_bytes(serialization.Encoding.PEM))
    result, answer = run_json(sealed["manifest"], sealed["signature"], "--ca", other_ca)
    assert result.exit_code == 1
    # What the certificate says is still shown: it helps find out whose seal it claims to be.
    assert answer["reason"] == "UNKNOWN_ISSUER" and answer["unit_code"] == UNIT


def test_a_seal_of_another_unit_than_claimed_is_refused(sealed):
    result, answer = run_json(sealed["manifest"], sealed["signature"], "--ca", sealed["ca"], "--unit", OTHER_UNIT)
    assert result.exit_code == 1
    assert answer["reason"] == "UNIT_MISMATCH" and answer["unit_code"] == UNIT


def test_the_manifest_issuer_code_is_the_claim_without_unit(sealed, pki):
    root, leaf, key = pki
    manifest = canonical_bytes({"title": "冒名", "issuer_code": OTHER_UNIT, "body_sha256": sha256_hex(BODY)})
    sealed["manifest"].write_bytes(manifest)
    sealed["signature"].write_bytes(cms.seal(manifest, leaf, key, NOW))
    result = run(sealed["manifest"], sealed["signature"], "--ca", sealed["ca"])
    assert result.exit_code == 1
    assert "UNIT_MISMATCH" in result.output


def test_an_edited_body_does_not_match_the_manifest(sealed):
    sealed["body"].write_bytes(BODY + b" ")
    result, answer = run_json(sealed["manifest"], sealed["signature"], "--ca", sealed["ca"], "--body", sealed["body"])
    assert result.exit_code == 1
    assert answer["reason"] == "DIGEST_MISMATCH"


def test_an_edited_attachment_does_not_match_the_manifest(sealed):
    sealed["attachment"].write_bytes(ATTACHMENT[:-1] + b"8")
    result, answer = run_json(sealed["manifest"], sealed["signature"], "--ca", sealed["ca"],
                              "--attachment", f"附件1.pdf={sealed['attachment']}")
    assert result.exit_code == 1
    assert answer["reason"] == "DIGEST_MISMATCH"


def test_a_missing_file_is_a_usage_error_without_a_traceback(sealed, tmp_path):
    result = run(sealed["manifest"], tmp_path / "no-such.p7s", "--ca", sealed["ca"])
    assert result.exit_code == 2
    assert "no-such.p7s" in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_an_attachment_not_given_as_name_equals_file_is_a_usage_error(sealed):
    result = run(sealed["manifest"], sealed["signature"], "--ca", sealed["ca"], "--attachment", sealed["attachment"])
    assert result.exit_code == 2 and "NAME=FILE" in result.output and "Traceback" not in result.output


def test_without_the_ca_nothing_is_verified(sealed):
    result = run(sealed["manifest"], sealed["signature"])
    assert result.exit_code == 2 and "--ca" in result.output and "Traceback" not in result.output


def test_a_ca_file_without_a_certificate_is_a_usage_error(sealed):
    sealed["ca"].write_text("not a certificate\n")
    result = run(sealed["manifest"], sealed["signature"], "--ca", sealed["ca"])
    assert result.exit_code == 2 and "Traceback" not in result.output
