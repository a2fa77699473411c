"""Sealing a manifest and verifying it: each rejection reason from the exact case that causes it,
the verification stamp for printing, and no private key in clear in the database."""
import base64
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import inspect, select, text

from gongwen_common import cms
from gongwen_seal import authority
from gongwen_seal.domain import keys
from gongwen_seal.domain.seals import seal_aad
from gongwen_seal.domain.settings import SealSettings
from gongwen_seal.models import Seal, SealUse


def private_key_of(seals, serial):
    """The seal's key as only the service can open it (the test holds the KEK)."""
    settings = SealSettings.from_config({"SEAL_KEK": seals.service.config["SEAL_KEK"]})
    return keys.load_key(seals.session.get(Seal, serial), settings.kek, seal_aad(serial))


def forged_signature(seals, serial, manifest, signing_time):
    """A signature made with the seal's real key and certificate, but at a time the service
    itself would refuse to seal (after revocation, after expiry)."""
    row = seals.session.get(Seal, serial)
    certificate = x509.load_pem_x509_certificate(row.certificate_pem.encode())
    return base64.b64encode(cms.seal(manifest, certificate, private_key_of(seals, serial), signing_time)).decode()


def test_a_clerk_seals_and_anyone_verifies(seals):
    seal = seals.active_seal("gz-fgw")
    manifest = seals.document("gz-fgw")
    sealed = seals.sign("gz-fgw", manifest)
    assert sealed["seal_serial"] == seal["serial"] and sealed["approvals_used"] == []
    result = seals.verify(manifest, sealed["signature"], body_b64=seals.b64(b"<p>body</p>"))
    assert (result["valid"], result["reason"], result["unit_code"], result["seal_serial"], result["seal_status"]) == \
        (True, None, "gz-fgw", seal["serial"], "active")
    use = seals.session.scalars(select(SealUse)).one()
    assert (use.signed_by, use.manifest_sha256) == ("clerk-gz-fgw", sealed["manifest_sha256"])
    assert seals.events("seal_used")[0]["manifest_sha256"] == sealed["manifest_sha256"]


def test_only_the_units_own_clerks_or_their_proxies_may_seal(seals):
    seals.active_seal("gz-fgw")
    seals.active_seal("gz-cz")
    manifest = seals.document("gz-fgw")
    assert seals.refused("sign", "gz-fgw", seals.b64(manifest), seals.clerk("gz-cz")).code == "NOT_FOUND"
    assert seals.refused("sign", "gz-fgw", seals.b64(manifest), seals.admin("gz-fgw")).code == "FORBIDDEN"
    by_proxy = seals.person("clerk-gz-fgw", "gz-fgw", "clerk", proxy="staff-gz-fgw")
    seals.sign("gz-fgw", manifest, actor=by_proxy)
    assert seals.session.scalars(select(SealUse.proxy_user_id)).one() == "staff-gz-fgw"
    # The manifest is the unit's own and canonical, or nothing is sealed.
    assert seals.refused("sign", "gz-fgw", seals.b64(seals.document("gz-cz")), seals.clerk("gz-fgw")).code == \
        "INVALID_MANIFEST"
    assert seals.refused("sign", "gz-fgw", seals.b64(b'{"b": 1, "a": 2}'), seals.clerk("gz-fgw")).code == \
        "INVALID_MANIFEST"


def test_a_json_object_manifest_the_seal_will_not_sign_is_a_domain_refusal_and_other_bytes_a_400(seals):
    """A JSON object is what the document asks for: one not canonical, or another unit's, is refused by a
    rule (422 INVALID_MANIFEST); bytes that are no JSON object do not match the document (400)."""
    seals.active_seal("gz-fgw")
    for manifest in (b'{"a": 1}', b'{"b":1,"a":2}', b'{"issuer_code":"gz-cz"}'):
        refused = seals.refused("sign", "gz-fgw", seals.b64(manifest), seals.clerk("gz-fgw"))
        assert (refused.code, refused.status, list(refused.fields)) == ("INVALID_MANIFEST", 422, ["manifest"])
    for manifest in (b"\x89PNG", b"[1]", b"1", b'{"a":1'):
        refused = seals.refused("sign", "gz-fgw", seals.b64(manifest), seals.clerk("gz-fgw"))
        assert (refused.code, refused.status) == ("VALIDATION_ERROR", 400)
    assert seals.session.scalars(select(SealUse)).all() == []


def test_each_rejection_reason_from_its_own_case(seals):
    seal = seals.active_seal("gz-fgw")
    seals.active_seal("gz-cz")
    attachment = {"附件1.pdf": b"%PDF-1.7 attachment"}
    manifest = seals.document("gz-fgw", attachments=attachment)
    sealed = seals.sign("gz-fgw", manifest)["signature"]

    flipped = bytearray(manifest)
    flipped[10] ^= 0x01
    assert seals.verify(bytes(flipped), sealed)["reason"] == "SIGNATURE_INVALID"

    edited = {"附件1.pdf": b"%PDF-1.7 attachment, edited"}
    assert seals.verify(manifest, sealed, attachments_b64={n: seals.b64(d) for n, d in edited.items()})["reason"] \
        == "DIGEST_MISMATCH"
    assert seals.verify(manifest, sealed, attachments_b64={n: seals.b64(d) for n, d in attachment.items()})["valid"]

    # A seal of unit gz-fgw claimed by gz-cz.
    assert seals.verify(manifest, sealed, unit_code="gz-cz")["reason"] == "UNIT_MISMATCH"

    # A certificate from another CA, same unit and serial.
    other_key, other_root = authority.create_root(seals.clock.now, common_name="Not Our CA")
    key = ec.generate_private_key(ec.SECP256R1())
    stranger = authority.issue_seal_certificate(
        other_key, other_root, unit_code="gz-fgw", unit_name="单位gz-fgw", seal_serial=seal["serial"],
        public_key=key.public_key(), not_before=seals.clock.now, not_after=seals.clock.now + timedelta(days=30))
    foreign = base64.b64encode(cms.seal(manifest, stranger, key, seals.clock.now)).decode()
    assert seals.verify(manifest, foreign)["reason"] == "UNKNOWN_ISSUER"

    # An expired certificate: past its end the service will not seal, and a signature dated then fails.
    seals.clock.now = seals.session.get(Seal, seal["serial"]).not_after + timedelta(days=1)
    assert seals.refused("sign", "gz-fgw", seals.b64(manifest), seals.clerk("gz-fgw")).code == "SEAL_EXPIRED"
    late = forged_signature(seals, seal["serial"], manifest, seals.clock.now)
    assert seals.verify(manifest, late)["reason"] == "CERT_EXPIRED"
    assert seals.verify(manifest, sealed)["valid"]  # sealed while the certificate was valid: still valid

    assert seals.verify(manifest, seals.b64(b"not a signature"))["reason"] == "MALFORMED_SIGNATURE"


def test_a_seal_revoked_before_signing_is_refused_and_earlier_signatures_stand(seals):
    seal = seals.active_seal("gz-fgw")
    manifest = seals.document("gz-fgw")
    before = seals.sign("gz-fgw", manifest)["signature"]
    seals.clock.advance(hours=1)
    seals.call("revoke_seal", seal["serial"], {"reason": "印章丢失"}, seals.admin("gz-fgw"))
    seals.clock.advance(minutes=5)
    assert seals.refused("sign", "gz-fgw", seals.b64(manifest), seals.clerk("gz-fgw")).code == "SEAL_NOT_ACTIVE"
    after = forged_signature(seals, seal["serial"], manifest, seals.clock.now)
    refused = seals.verify(manifest, after)
    assert (refused["valid"], refused["reason"], refused["seal_status"]) == (False, "SEAL_REVOKED", "revoked")
    kept = seals.verify(manifest, before)
    assert (kept["valid"], kept["seal_status"]) == (True, "revoked")


def test_verify_for_print_stamps_a_valid_copy_only(seals):
    seal = seals.active_seal("gz-fgw")
    manifest = seals.document("gz-fgw")
    sealed = seals.sign("gz-fgw", manifest)["signature"]
    reader = seals.clerk("gz-cz")
    first = seals.call("verify_for_print", seals.b64(manifest), sealed, reader)
    second = seals.call("verify_for_print", seals.b64(manifest), sealed, reader)
    assert first["valid"] and first["stamp"]["seal_serial"] == seal["serial"]
    assert base64.b64decode(first["stamp"]["image_png"]).startswith(b"\x89PNG")
    assert first["stamp"]["print_serial"] != second["stamp"]["print_serial"]
    tampered = seals.call("verify_for_print", seals.b64(manifest + b" "), sealed, reader)
    assert (tampered["valid"], tampered["stamp"]) == (False, None)


def test_the_database_holds_no_private_key_in_clear(seals):
    seal = seals.active_seal("gz-fgw")
    seals.sign("gz-fgw", seals.document("gz-fgw"))
    settings = SealSettings.from_config({"SEAL_KEK": seals.service.config["SEAL_KEK"]})
    ca_key, _ = keys.root_key(seals.session, settings.kek, seals.clock.now)
    secrets = []
    for key in (private_key_of(seals, seal["serial"]), ca_key):
        secrets += [key.private_numbers().private_value.to_bytes(32, "big"),
                    key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()),
                    key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption())]
    dump = b""
    for table in inspect(seals.session.bind).get_table_names():
        for row in seals.session.execute(text(f'SELECT * FROM "{table}"')):
            dump += b"|".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
    assert b"PRIVATE KEY" not in dump
    assert all(secret not in dump for secret in secrets)
    assert base64.b64encode(secrets[0]) not in dump
