"""Document exchange end to end through the gateway, against real services, broker and
PostgreSQL: unit A's clerk sends an urgent sealed document to three main and two copy
recipients; each recipient's own office system lists it, downloads it, checks the seal with the
system's openssl, signs for it and registers it; A's receipt matrix shows every step."""
import json
import subprocess
import uuid

from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import text

from conftest import Api, Databases, active_unit, operator_login, person, wait_until, when_known


def unit(operator, code, name):
    return active_unit(operator, code, name)["code"]


def system_of(stack, operator, code):
    """The unit's own office system, with client credentials (a department system's account)."""
    credentials = operator.post(f"/api/v1/units/{code}/clients")
    assert credentials.status_code == 201, credentials.text
    token = Api(stack.gateway_url).post("/api/v1/auth/token", json={
        "client_id": credentials.json()["client_id"], "client_secret": credentials.json()["client_secret"]})
    api = Api(stack.gateway_url)
    api.http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return api


def sealed_unit(stack, operator):
    code = unit(operator, f"a-{uuid.uuid4().hex[:6]}", "广州市人民政府办公厅")
    clerk = person(stack, operator, code, "clerk")
    body = {"unit_code": code, "custody": {"required_approvals": 1, "custodian_user_ids": [clerk.user_id]}}
    applied = when_known(lambda: operator.post("/api/v1/seals", json=body), message="the seal service to know it")
    assert operator.post(f"/api/v1/seals/{applied.json()['serial']}/approve").status_code == 200
    return code, clerk.api


def send(clerk, metadata, body=b"<html>body</html>", attachments=(), key=None):
    files = [("body", ("正文.html", body))] + [("attachments", (name, data)) for name, data in attachments]
    headers = {"Idempotency-Key": key} if key else {}
    return clerk.post("/api/v1/documents", data={"metadata": json.dumps(metadata, ensure_ascii=False)},
                      files=files, headers=headers)


def test_an_urgent_sealed_document_reaches_five_units_and_every_step_is_recorded(stack, tmp_path):
    operator = operator_login(stack)
    a, clerk = sealed_unit(stack, operator)
    tag = uuid.uuid4().hex[:4]
    main = [unit(operator, f"m{n}-{tag}", f"主送单位{n}") for n in range(3)]
    cc = [unit(operator, f"c{n}-{tag}", f"抄送单位{n}") for n in range(2)]
    systems = {code: system_of(stack, operator, code) for code in main + cc}
    metadata = {"doc_number": f"穗府办〔2026〕{tag}号", "title": "关于做好冬季安全生产工作的紧急通知",
                "signer": "李四", "urgency": "urgent", "secrecy": "none", "main_recipients": main,
                "cc_recipients": cc, "print_grants": {main[0]: 1}, "paper_attachments": ["图纸一套"]}
    attachment = ("附件1 名单.xlsx", b"PK\x03\x04 spreadsheet")
    sent = when_known(lambda: send(clerk, metadata, attachments=[attachment], key=tag),
                      message="the exchange to know them")
    assert sent.status_code == 201, sent.text
    doc = sent.json()["id"]
    assert send(clerk, metadata, attachments=[attachment], key=tag).json()["id"] == doc  # a retry sends once

    ca = Api(stack.gateway_url).get("/api/v1/seals/ca.pem").text
    (tmp_path / "ca.pem").write_text(ca)
    for code, system in systems.items():
        listed = system.get("/api/v1/inbox", params={"urgency": "urgent"}).json()["items"]
        assert [i["document"]["id"] for i in listed] == [doc], code
        for part in ("manifest", "signature.p7s", "body", "attachments/1"):
            got = system.get(f"/api/v1/documents/{doc}/{part}")
            assert got.status_code == 200, (code, part, got.text)
            (tmp_path / part.replace("/", "-")).write_bytes(got.content)
        checked = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "signature.p7s",
                                  "-content", "manifest", "-CAfile", "ca.pem", "-out", "/dev/null"],
                                 cwd=tmp_path, capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, checked.stderr
        manifest = json.loads((tmp_path / "manifest").read_bytes())
        assert (manifest["issuer_code"], manifest["title"], manifest["attachments"][0]["name"]) == (
            a, metadata["title"], attachment[0])
        signed = system.post(f"/api/v1/documents/{doc}/sign")
        assert signed.status_code == 200 and signed.json()["state"] == "signed", signed.text
        registered = system.post(f"/api/v1/documents/{doc}/register", json={"registration_number": f"收{code}"})
        assert registered.json()["state"] == "registered", registered.text

    # Neither another unit nor a recipient sees more than it should: 404, existence does not leak.
    stranger = system_of(stack, operator, unit(operator, f"x-{tag}", "无关单位"))
    assert doc not in [i["document"]["id"] for i in stranger.get("/api/v1/inbox").json()["items"]]
    for method, path in (("get", ""), ("get", "/manifest"), ("get", "/body"), ("get", "/receipts"),
                         ("post", "/sign"), ("post", "/print")):
        refused = stranger.http.request(method.upper(), f"{stranger.base_url}/api/v1/documents/{doc}{path}")
        assert (refused.status_code, refused.json()["error"]) == (404, "NOT_FOUND"), (method, path)
    recipient = systems[main[1]]
    assert recipient.get(f"/api/v1/documents/{doc}/receipts").status_code == 404  # the sender's matrix
    seen = recipient.get(f"/api/v1/documents/{doc}").json()
    assert "receipts" not in seen and seen["receipt"]["unit_code"] == main[1]

    matrix = clerk.get(f"/api/v1/documents/{doc}/receipts").json()["items"]
    assert sorted(r["unit_code"] for r in matrix) == sorted(main + cc)
    for row in matrix:
        assert row["state"] == "registered"
        assert row["delivered_at"] <= row["first_read_at"] <= row["signed_at"] <= row["registered_at"]
        assert row["signed_by"].startswith("client:") and row["registration_number"] == f"收{row['unit_code']}"
    assert clerk.get(f"/api/v1/documents/{doc}").json()["status"] == "completed"
    dbs = Databases(stack)
    assert dbs.scalar("exchange", "SELECT count(*) FROM outbox_events WHERE event_type = 'document_completed' "
                      "AND payload->'data'->>'id' = :d", d=doc) == 1
    wait_until(lambda: dbs.scalar("exchange", "SELECT count(*) FROM outbox_events WHERE sent_at IS NULL") == 0,
               message="the outbox to publish everything")


def test_a_tampered_stored_body_makes_sign_for_refuse_and_nothing_changes(stack):
    operator = operator_login(stack)
    a, clerk = sealed_unit(stack, operator)
    b = unit(operator, f"b-{uuid.uuid4().hex[:6]}", "收文单位")
    system = system_of(stack, operator, b)
    metadata = {"doc_number": "穗〔2026〕1号", "title": "通知", "signer": "王", "urgency": "normal",
                "secrecy": "none", "main_recipients": [b]}
    sent = when_known(lambda: send(clerk, metadata), message="the exchange to know the unit")
    doc = sent.json()["id"]
    dbs = Databases(stack)
    with dbs.engines["exchange"].begin() as connection:
        connection.execute(text("UPDATE blobs SET data = :d WHERE sha256 = (SELECT body_sha256 FROM documents "
                                "WHERE id = :id)"), {"d": b"<html>changed</html>", "id": doc})
    refused = system.post(f"/api/v1/documents/{doc}/sign")
    assert (refused.status_code, refused.json()["error"], refused.json()["fields"]) == (
        409, "SEAL_INVALID", {"reason": "DIGEST_MISMATCH"})
    assert dbs.rows("exchange", "SELECT state, signed_at FROM receipts WHERE document_id = :d", d=doc) == [
        ("delivered", None)]
    classified = send(clerk, {**metadata, "doc_number": "穗〔2026〕2号", "secrecy": "秘密"})
    assert (classified.status_code, classified.json()["error"]) == (422, "CLASSIFIED_NOT_ALLOWED")


def test_one_document_reaches_a_thousand_registered_units_once_each(stack):
    """Fan-out: 1,000 units registered through the registry (their events reach every service),
    one document to all of them; every unit's inbox holds it exactly once."""
    operator = operator_login(stack)
    a, clerk = sealed_unit(stack, operator)
    tag = uuid.uuid4().hex[:4]
    codes = [f"f{tag}-{n:04d}" for n in range(1000)]
    with ClusterRpcProxy({"AMQP_URI": stack.amqp_uri}, timeout=60) as suite:
        pending = [suite.registry.register_unit.call_async(
            {"code": code, "name": f"单位{code}", "kind": "department", "parent_code": None},
            actor={"user_id": "op-1", "roles": ["operator"]}, active=True) for code in codes]
        for reply in pending:
            reply.result()
    dbs = Databases(stack)
    wait_until(lambda: dbs.scalar("exchange", "SELECT count(*) FROM unit_views WHERE code LIKE :p",
                                  p=f"f{tag}-%") == 1000, timeout=180, message="the exchange to know 1,000 units")
    metadata = {"doc_number": f"穗府〔2026〕{tag}号", "title": "致全市各单位的通知", "signer": "周",
                "urgency": "normal", "secrecy": "none", "main_recipients": codes}
    sent = send(clerk, metadata)
    assert sent.status_code == 201, sent.text
    doc = sent.json()["id"]
    assert len(sent.json()["receipts"]) == 1000
    assert dbs.rows("exchange", "SELECT count(*), count(DISTINCT unit_code) FROM receipts WHERE document_id = :d",
                    d=doc) == [(1000, 1000)]
    for code in (codes[0], codes[499], codes[-1]):  # a unit's own system sees it once in its inbox
        listed = system_of(stack, operator, code).get("/api/v1/inbox").json()["items"]
        assert [i["document"]["id"] for i in listed] == [doc]
    outbox = clerk.get("/api/v1/outbox").json()["items"]
    assert next(d for d in outbox if d["id"] == doc)["receipt_counts"] == {"delivered": 1000}
