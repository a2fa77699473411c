"""Document exchange end to end through the gateway, against real services, broker and
PostgreSQL: unit A's clerk sends an urgent sealed document to three main and two copy
recipients; each recipient's own office system lists it, downloads it, checks the seal with the
system's openssl, signs for it and registers it; A's receipt matrix shows every step."""
import hashlib
import json
import subprocess
import uuid

from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import text

from conftest import Api, Databases, active_unit, at_once, operator_login, person, wait_until, when_known


def unit(operator, code, name):
    return active_unit(operator, code, name)["code"]


def system_of(stack, operator, code):
    """The unit's own office system, with client credentials (a department system's account)."""
    credentials = when_known(lambda: operator.post(f"/api/v1/units/{code}/clients"),
                             message="identity to know the unit")
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
    # a body of its own: blobs are stored once per content, and the session's other documents must
    # not find theirs changed
    body = f"<html>{uuid.uuid4()}</html>".encode()
    sent = when_known(lambda: send(clerk, metadata, body=body), message="the exchange to know the unit")
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


def together(calls):
    """Run the calls at the same moment (``at_once``); their answers in order."""
    return at_once(calls)


def twin(api):
    """Another connection with the same credentials (one HTTP session per thread)."""
    copy = Api(api.base_url)
    copy.http.headers.update(api.http.headers)
    return copy


def test_concurrent_sends_of_the_same_bytes_under_different_keys_all_succeed_and_keep_one_blob(stack):
    operator = operator_login(stack)
    a, clerk = sealed_unit(stack, operator)
    b = unit(operator, f"b-{uuid.uuid4().hex[:6]}", "收文单位")
    tag = uuid.uuid4().hex[:6]
    body, attachment = f"<html>同一正文 {tag}</html>".encode(), ("附件.pdf", f"%PDF {tag}".encode())
    metadata = {"title": "通知", "signer": "王", "urgency": "normal", "secrecy": "none", "main_recipients": [b]}
    when_known(lambda: send(clerk, {**metadata, "doc_number": f"穗〔2026〕{tag}-0号"}, body=b"warm-up"),
               message="the exchange to know the unit")
    sent = together([lambda n=n: send(twin(clerk), {**metadata, "doc_number": f"穗〔2026〕{tag}-{n + 1}号"},
                                      body=body, attachments=[attachment], key=f"{tag}-{n}") for n in range(4)])
    assert [r.status_code for r in sent] == [201] * 4, [r.text for r in sent]
    assert len({r.json()["id"] for r in sent}) == 4
    dbs = Databases(stack)
    for data in (body, attachment[1]):
        assert dbs.scalar("exchange", "SELECT count(*) FROM blobs WHERE sha256 = :s",
                          s=hashlib.sha256(data).hexdigest()) == 1


def test_concurrent_sends_of_one_doc_number_answer_one_201_and_409s_never_a_500(stack):
    operator = operator_login(stack)
    a, clerk = sealed_unit(stack, operator)
    b = unit(operator, f"b-{uuid.uuid4().hex[:6]}", "收文单位")
    tag = uuid.uuid4().hex[:6]
    metadata = {"doc_number": f"穗〔2026〕{tag}号", "title": "通知", "signer": "王", "urgency": "normal",
                "secrecy": "none", "main_recipients": [b]}
    when_known(lambda: send(clerk, {**metadata, "doc_number": f"穗〔2026〕{tag}-0号"}),
               message="the exchange to know the unit")
    sent = together([lambda n=n: send(twin(clerk), metadata, body=f"正文 {n}".encode(), key=f"{tag}-{n}")
                     for n in range(4)])
    assert sorted(r.status_code for r in sent) == [201, 409, 409, 409], [r.text for r in sent]
    assert {r.json()["error"] for r in sent if r.status_code == 409} == {"DOC_NUMBER_TAKEN"}


def test_concurrent_identical_sign_and_register_requests_have_one_effect_and_one_answer(stack):
    operator = operator_login(stack)
    a, clerk = sealed_unit(stack, operator)
    b = unit(operator, f"b-{uuid.uuid4().hex[:6]}", "收文单位")
    system = system_of(stack, operator, b)
    metadata = {"doc_number": f"穗〔2026〕{uuid.uuid4().hex[:6]}号", "title": "通知", "signer": "王",
                "urgency": "normal", "secrecy": "none", "main_recipients": [b], "print_grants": {b: 2}}
    # A body of its own: another test of this module tampers with the stored default body.
    doc = when_known(lambda: send(clerk, metadata, body=f"<html>{metadata['doc_number']}</html>".encode()),
                     message="the exchange to know the unit").json()["id"]

    signed = together([lambda: twin(system).post(f"/api/v1/documents/{doc}/sign") for _ in range(4)])
    assert [r.status_code for r in signed] == [200] * 4, [r.text for r in signed]
    assert len({r.json()["signed_at"] for r in signed}) == 1
    registered = together([lambda: twin(system).post(f"/api/v1/documents/{doc}/register",
                                                     json={"registration_number": "收〔2026〕8号"})
                           for _ in range(4)])
    assert [r.status_code for r in registered] == [200] * 4, [r.text for r in registered]
    assert len({r.json()["registered_at"] for r in registered}) == 1
    dbs = Databases(stack)
    for event in ("receipt_signed", "receipt_registered", "document_completed"):
        assert dbs.scalar("exchange", "SELECT count(*) FROM outbox_events WHERE event_type = :e "
                          "AND payload->'data'->>'id' = :d", e=event, d=doc) == 1, event

    printed = together([lambda: twin(system).post(f"/api/v1/documents/{doc}/print",
                                                  headers={"Idempotency-Key": "print-once"}) for _ in range(3)])
    assert [r.status_code for r in printed] == [200] * 3, [r.text for r in printed]
    assert len({(r.json()["copy_number"], r.json()["stamp"]["print_serial"]) for r in printed}) == 1
    assert dbs.scalar("exchange", "SELECT print_copies_used FROM receipts WHERE document_id = :d", d=doc) == 1
    again = system.post(f"/api/v1/documents/{doc}/print", headers={"Idempotency-Key": "print-once"})
    assert again.json() == printed[0].json()
    spec = Api(stack.gateway_url).get("/api/v1/openapi.json").json()
    parameters = spec["paths"]["/api/v1/documents/{document_id}/print"]["post"]["parameters"]
    assert any(p["in"] == "header" and p["name"] == "Idempotency-Key" for p in parameters)


def test_a_resend_naming_a_unit_twice_is_a_400_and_changes_nothing(stack):
    operator = operator_login(stack)
    a, clerk = sealed_unit(stack, operator)
    b = unit(operator, f"b-{uuid.uuid4().hex[:6]}", "收文单位")
    system = system_of(stack, operator, b)
    metadata = {"doc_number": f"穗〔2026〕{uuid.uuid4().hex[:6]}号", "title": "通知", "signer": "王",
                "urgency": "normal", "secrecy": "none", "main_recipients": [b]}
    # A body of its own: another test of this module tampers with the stored default body.
    doc = when_known(lambda: send(clerk, metadata, body=f"<html>{metadata['doc_number']}</html>".encode()),
                     message="the exchange to know the unit").json()["id"]
    assert system.post(f"/api/v1/documents/{doc}/return", json={"reason": "文号有误"}).status_code == 200
    refused = clerk.post(f"/api/v1/documents/{doc}/resend", json={"unit_codes": [b, b]})
    assert (refused.status_code, refused.json()["error"]) == (400, "VALIDATION_ERROR"), refused.text
    assert [r["state"] for r in clerk.get(f"/api/v1/documents/{doc}/receipts").json()["items"]] == ["returned"]


def test_a_revoked_units_open_receipt_is_transferred_to_its_successor(stack):
    operator = operator_login(stack)
    a, clerk = sealed_unit(stack, operator)
    tag = uuid.uuid4().hex[:6]
    b, successor = unit(operator, f"b-{tag}", "被撤销单位"), unit(operator, f"s-{tag}", "承继单位")
    heir = system_of(stack, operator, successor)
    metadata = {"doc_number": f"穗〔2026〕{tag}号", "title": "通知", "signer": "王", "urgency": "normal",
                "secrecy": "none", "main_recipients": [b]}
    # A body of its own: another test of this module tampers with the stored default body.
    doc = when_known(lambda: send(clerk, metadata, body=f"<html>{metadata['doc_number']}</html>".encode()),
                     message="the exchange to know the unit").json()["id"]
    revoked = operator.post(f"/api/v1/units/{b}/revoke", json={"reason": "机构改革", "documents": "transfer",
                                                                "successor_code": successor})
    assert revoked.status_code == 200, revoked.text
    inbox = wait_until(lambda: heir.get("/api/v1/inbox").json()["items"], message="the transfer to reach the exchange")
    assert [i["document"]["id"] for i in inbox] == [doc]
    matrix = {r["unit_code"]: r for r in clerk.get(f"/api/v1/documents/{doc}/receipts").json()["items"]}
    assert matrix[b]["closed_reason"] == "transferred" and matrix[successor]["resent_from"] == matrix[b]["receipt_id"]
    assert heir.post(f"/api/v1/documents/{doc}/sign").json()["state"] == "signed"
