"""Electronic seals through the gateway, against real services, broker and PostgreSQL: a unit's
seal under two-person custody seals a manifest that the system's own ``openssl cms -verify``
accepts with nothing of ours involved; the seal database holds no private key in clear; a seal
is destroyed by three people and its key is gone; no HTTP route hands out a print stamp without
a granted print."""
import base64
import hashlib
import json
import subprocess
import uuid
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.serialization import load_der_private_key
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from conftest import TEST_ENV, Api, Databases, active_unit, operator_login, person, when_known
from gongwen_common import manifest as manifests
from gongwen_common.keywrap import KeyEncryptionKey, WrappedSecret, unwrap_secret


def openssl_verifies(tmp_path, manifest: bytes, signature: bytes, ca_pem: str) -> subprocess.CompletedProcess:
    (tmp_path / "manifest.json").write_bytes(manifest)
    (tmp_path / "signature.p7s").write_bytes(signature)
    (tmp_path / "ca.pem").write_text(ca_pem)
    return subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "signature.p7s",
                           "-content", "manifest.json", "-CAfile", "ca.pem", "-out", "/dev/null"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=30)


def test_a_sealed_manifest_verifies_with_openssl_alone_and_two_person_custody_holds(stack, tmp_path):
    operator = operator_login(stack)
    code = active_unit(operator, f"seal-{uuid.uuid4().hex[:6]}", "广州市财政局")["code"]
    admin, clerk = person(stack, operator, code, "admin").api, person(stack, operator, code, "clerk").api
    custodians = [person(stack, operator, code, "custodian") for _ in range(2)]
    keeper_ids, keepers = [c.user_id for c in custodians], [c.api for c in custodians]

    body = {"unit_code": code, "custody": {"required_approvals": 2, "custodian_user_ids": list(keeper_ids)}}
    applied = when_known(lambda: admin.post("/api/v1/seals", json=body), message="the seal service to know it")
    assert applied.status_code == 201 and applied.json()["status"] == "applied", applied.text
    strangers = {"unit_code": code, "custody": {"required_approvals": 1, "custodian_user_ids": ["not-a-member"]}}
    refused = admin.post("/api/v1/seals", json=strangers)
    assert (refused.status_code, refused.json()["error"]) == (422, "INVALID_CUSTODY"), refused.text
    assert "custodian_user_ids" in str(refused.json()["fields"]), refused.text
    serial = applied.json()["serial"]
    assert admin.post(f"/api/v1/seals/{serial}/approve").status_code == 403
    assert operator.post(f"/api/v1/seals/{serial}/approve").json()["status"] == "active"

    ca = Api(stack.gateway_url).get("/api/v1/seals/ca.pem")  # public: anyone may verify
    assert ca.status_code == 200 and ca.text.startswith("-----BEGIN CERTIFICATE-----")
    png = clerk.get(f"/api/v1/seals/{serial}/image.png")
    assert png.headers["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG")

    manifest = manifests.canonical_bytes({"doc_number": "穗财〔2026〕7号", "title": "关于预算执行的通知",
                                          "issuer_code": code, "issued_at": "2026-11-22T09:00:00+08:00",
                                          "body_sha256": hashlib.sha256(b"body").hexdigest(), "attachments": []})
    digest = hashlib.sha256(manifest).hexdigest()

    def seal(approval_ids=()):
        return clerk.post("/api/v1/seals/sign", files={"manifest": ("manifest.json", manifest)},
                          data={"approval_ids": ",".join(approval_ids)})

    assert seal().json()["error"] == "CUSTODY_APPROVAL_REQUIRED"
    first = keepers[0].post(f"/api/v1/seals/{serial}/use-approvals", json={"manifest_sha256": digest})
    assert first.status_code == 201, first.text
    assert seal([first.json()["approval_id"]]).json()["error"] == "CUSTODY_APPROVAL_REQUIRED"
    second = keepers[1].post(f"/api/v1/seals/{serial}/use-approvals", json={"manifest_sha256": digest})
    sealed = seal([first.json()["approval_id"], second.json()["approval_id"]])
    assert sealed.status_code == 200, sealed.text
    signature = base64.b64decode(sealed.json()["signature"])

    checked = openssl_verifies(tmp_path, manifest, signature, ca.text)
    assert checked.returncode == 0, checked.stderr
    flipped = bytearray(manifest)
    flipped[len(flipped) // 2] ^= 0x01
    assert openssl_verifies(tmp_path, bytes(flipped), signature, ca.text).returncode != 0

    def verify(**fields):
        return clerk.post("/api/v1/seals/verify", files={"manifest": ("manifest.json", manifest),
                                                         "signature": ("signature.p7s", signature),
                                                         "body": ("body", b"body")},
                          data=fields).json()

    assert (verify()["valid"], verify()["seal_serial"], verify()["unit_code"]) == (True, serial, code)
    assert verify(unit_code="someone-else")["reason"] == "UNIT_MISMATCH"
    printed = clerk.post("/api/v1/seals/verify-for-print", files={"manifest": ("m", manifest),
                                                                  "signature": ("s", signature)}).json()
    assert printed["valid"] and "stamp" not in printed  # a stamp only comes with a granted print

    # The seal database (PostgreSQL) holds its keys only encrypted: no PEM, no DER, no raw key bytes.
    pkcs8, raw, _ = seal_key(stack, serial)
    dump = seal_database_dump(stack)
    assert b"PRIVATE KEY" not in dump and pkcs8 not in dump and raw not in dump


def seal_key(stack, serial):
    """The seal's private key as only the seal service can open it (the test holds its KEK):
    (PKCS#8, raw scalar, the stored wrapped data key and ciphertext)."""
    engine = create_engine(stack.database_urls["seal"], poolclass=NullPool)
    with engine.connect() as connection:
        row = connection.execute(text("SELECT kek_id, wrapped_data_key, key_ciphertext FROM seals WHERE serial = :s"),
                                 {"s": serial}).one()
    engine.dispose()
    kek = KeyEncryptionKey.from_config(TEST_ENV["SEAL_KEK"], setting="SEAL_KEK", purpose="seal private keys")
    pkcs8 = unwrap_secret(kek, WrappedSecret(row[0], bytes(row[1]), bytes(row[2])), f"seal:{serial}".encode())
    raw = load_der_private_key(pkcs8, None).private_numbers().private_value.to_bytes(32, "big")
    return pkcs8, raw, (bytes(row[1]), bytes(row[2]))


def seal_database_dump(stack) -> bytes:
    """Every value of every table of the seal database, as bytes."""
    engine = create_engine(stack.database_urls["seal"], poolclass=NullPool)
    dump = b""
    with engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            for values in connection.execute(text(f'SELECT * FROM "{table}"')):
                dump += b"|".join(bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in values)
    engine.dispose()
    return dump


def issued_seal(operator, admin, code, custodian_ids, required=1):
    body = {"unit_code": code, "custody": {"required_approvals": required, "custodian_user_ids": custodian_ids}}
    applied = when_known(lambda: admin.post("/api/v1/seals", json=body), message="the seal service to know it")
    assert applied.status_code == 201, applied.text
    issued = operator.post(f"/api/v1/seals/{applied.json()['serial']}/approve")
    assert issued.status_code == 200, issued.text
    return issued.json()["serial"]


def test_a_seal_is_destroyed_through_the_api_by_three_distinct_people_and_its_key_is_gone(stack):
    operator = operator_login(stack)
    tag = uuid.uuid4().hex[:6]
    code = active_unit(operator, f"d-{tag}", "广州市档案馆")["code"]
    bureau = operator.post("/api/v1/units", json={"code": f"bmj-{tag}", "name": "广州市国家保密局",
                                                   "kind": "secrecy_bureau"})
    assert bureau.status_code == 201, bureau.text  # the registry knows the kind
    assert operator.post(f"/api/v1/units/bmj-{tag}/approve").json()["status"] == "active"
    admin = person(stack, operator, code, "admin")
    clerk = person(stack, operator, code, "clerk")
    officer = person(stack, operator, f"bmj-{tag}", "secrecy_officer")
    serial = issued_seal(operator, admin.api, code, [clerk.user_id])
    manifest = manifests.canonical_bytes({"doc_number": f"穗档〔2026〕{tag}号", "title": "销毁前盖章",
                                          "issuer_code": code, "issued_at": "2026-11-22T09:00:00+08:00",
                                          "body_sha256": hashlib.sha256(b"body").hexdigest(), "attachments": []})
    sealed = clerk.api.post("/api/v1/seals/sign", files={"manifest": ("manifest.json", manifest)})
    assert sealed.status_code == 200, sealed.text
    pkcs8, raw, (wrapped_data_key, ciphertext) = seal_key(stack, serial)

    def present(api):
        reply = api.post(f"/api/v1/seals/{serial}/destruction-approvals")
        assert reply.status_code == 200, reply.text
        return reply.json()

    assert present(operator)["destruction"]["recorded"] == ["operator"]
    assert present(officer.api)["destruction"] == {"recorded": ["operator", "secrecy_bureau"],
                                                  "missing": ["owning_unit"]}
    destroyed = present(admin.api)
    assert (destroyed["status"], destroyed["destruction"]["missing"]) == ("destroyed", [])

    dbs = Databases(stack)
    assert dbs.rows("seal", "SELECT kek_id, wrapped_data_key, key_ciphertext FROM seals WHERE serial = :s",
                    s=serial) == [(None, None, None)]
    parties = dict(dbs.rows("seal", "SELECT party, user_id FROM seal_destruction_approvals WHERE seal_serial = :s",
                            s=serial))
    assert (parties["secrecy_bureau"], parties["owning_unit"]) == (officer.user_id, admin.user_id)
    assert len(set(parties.values())) == 3  # three people
    dump = seal_database_dump(stack)
    for material in (pkcs8, raw, wrapped_data_key, ciphertext):
        assert material not in dump
    refused = clerk.api.post("/api/v1/seals/sign", files={"manifest": ("manifest.json", manifest + b" ")})
    assert refused.json()["error"] in ("SEAL_NOT_ACTIVE", "INVALID_MANIFEST"), refused.text
    verified = clerk.api.post("/api/v1/seals/verify", files={
        "manifest": ("m", manifest), "signature": ("s", base64.b64decode(sealed.json()["signature"]))}).json()
    assert (verified["valid"], verified["seal_status"]) == (True, "destroyed")  # valid at signing time


def test_no_http_route_gives_a_staff_user_or_a_recipient_without_copies_a_print_stamp(stack):
    operator = operator_login(stack)
    tag = uuid.uuid4().hex[:6]
    sender = active_unit(operator, f"s-{tag}", "广州市人民政府办公厅")["code"]
    recipient = active_unit(operator, f"r-{tag}", "广州市教育局")["code"]
    sending_clerk = person(stack, operator, sender, "clerk")
    issued_seal(operator, operator, sender, [sending_clerk.user_id])
    clerk, staff = person(stack, operator, recipient, "clerk").api, person(stack, operator, recipient, "staff").api
    metadata = {"doc_number": f"穗府办〔2026〕{tag}号", "title": "不得打印的通知", "signer": "李四",
                "urgency": "normal", "secrecy": "none", "main_recipients": [recipient], "cc_recipients": [],
                "print_grants": {}}
    sent = when_known(lambda: sending_clerk.api.post(
        "/api/v1/documents", data={"metadata": json.dumps(metadata, ensure_ascii=False)},
        files=[("body", ("正文.html", b"<html>body</html>"))]), message="the exchange to know them")
    assert sent.status_code == 201, sent.text
    doc = sent.json()["id"]
    manifest = clerk.get(f"/api/v1/documents/{doc}/manifest").content
    signature = clerk.get(f"/api/v1/documents/{doc}/signature.p7s").content

    for api in (clerk, staff):
        checked = api.post("/api/v1/seals/verify-for-print", files={"manifest": ("m", manifest),
                                                                    "signature": ("s", signature)})
        assert checked.status_code == 200 and checked.json()["valid"] is True, checked.text
        assert "stamp" not in checked.json()
    assert clerk.post(f"/api/v1/documents/{doc}/print").json()["error"] == "PRINT_NOT_GRANTED"
    assert staff.post(f"/api/v1/documents/{doc}/print").status_code in (403, 404)
    assert Databases(stack).scalar("seal", "SELECT count(*) FROM print_stamps WHERE manifest_sha256 = :d",
                                   d=hashlib.sha256(manifest).hexdigest()) == 0


def test_a_proxy_cannot_name_custodians_approve_a_seals_use_or_stand_at_its_destruction(stack):
    """Custody is personal (003 §22): whoever acts for the admin or a custodian through
    ``/auth/act-for`` is refused, by the seal service, everything that touches it."""
    operator = operator_login(stack)
    code = active_unit(operator, f"p-{uuid.uuid4().hex[:6]}", "广州市民政局")["code"]
    admin, clerk = person(stack, operator, code, "admin"), person(stack, operator, code, "clerk")
    keepers = [person(stack, operator, code, "custodian") for _ in range(2)]
    now = datetime.now(UTC)

    def proxy_for(principal):
        named = admin.api.post("/api/v1/proxies", json={
            "principal_user_id": principal.user_id, "proxy_user_id": clerk.user_id,
            "starts_at": (now - timedelta(minutes=1)).isoformat(),
            "ends_at": (now + timedelta(minutes=10)).isoformat()})
        assert named.status_code == 201, named.text
        issued = clerk.api.post("/api/v1/auth/act-for", json={"principal_user_id": principal.user_id})
        assert issued.status_code == 200, issued.text
        api = Api(stack.gateway_url)
        api.http.headers["Authorization"] = f"Bearer {issued.json()['access_token']}"
        return api

    def refused(reply):
        return (reply.status_code, reply.json().get("error")) == (403, "PROXY_NOT_ALLOWED")

    as_admin = proxy_for(admin)
    custody = {"required_approvals": 2, "custodian_user_ids": [k.user_id for k in keepers]}
    assert refused(when_known(lambda: as_admin.post("/api/v1/seals", json={"unit_code": code, "custody": custody}),
                              message="the seal service to know it"))
    serial = issued_seal(operator, admin.api, code, [k.user_id for k in keepers], required=2)
    as_keeper = proxy_for(keepers[0])
    assert refused(as_keeper.post(f"/api/v1/seals/{serial}/use-approvals", json={"manifest_sha256": "a" * 64}))
    assert refused(as_admin.post(f"/api/v1/seals/{serial}/destruction-approvals"))
    dbs = Databases(stack)
    assert dbs.scalar("seal", "SELECT count(*) FROM seals WHERE unit_code = :c", c=code) == 1
    assert dbs.scalar("seal", "SELECT count(*) FROM seal_use_approvals WHERE seal_serial = :s", s=serial) == 0
    assert dbs.scalar("seal", "SELECT count(*) FROM seal_destruction_approvals WHERE seal_serial = :s", s=serial) == 0
