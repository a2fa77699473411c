"""The document commands of `gongwen` against the real suite: a sealed unit's clerk sends (发文)
with a Chinese-named attachment; the recipient's clerk lists the inbox (收文), fetches the files
and verifies the seal offline, signs for (签收) and registers (登记) one document and returns
(退回) another; a refusal ends with its code and no traceback. Every command is a real process."""
import io
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.formparser import parse_form_data

from conftest import CHANGED_PASSWORD, active_unit, operator_login, person, wait_until
from gongwen_cli.documents import safe_name
from gongwen_cli.gateway import Multipart


def gongwen(home, *args, env=None):
    return subprocess.run([sys.executable, "-m", "gongwen_cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {}), "GONGWEN_HOME": str(home)})


def ok(done):
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    return json.loads(done.stdout)


def unit(operator, code, name):
    return active_unit(operator, code, name)["code"]


def clerk_in_cli(stack, operator, code, home, profile):
    """A clerk of ``code`` past the first login, then logged in with the CLI under ``profile``; their user id."""
    clerk = person(stack, operator, code, "clerk")
    key_file = home / f"{profile}.pem"
    key_file.write_bytes(clerk.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    logged = gongwen(home, "login", "--username", clerk.username, "--key-file", str(key_file), "--gateway",
                     stack.gateway_url, "--profile", profile, env={"GONGWEN_PASSWORD": CHANGED_PASSWORD})
    assert logged.returncode == 0 and "change your initial password" not in logged.stdout, logged.stderr
    return clerk.user_id


def sent_once_known(home, *args):
    """`gongwen send`, retried (with the same Idempotency-Key) until the exchange has heard of
    every unit from the registry's events: before that it answers UNKNOWN_UNIT."""
    done = wait_until(lambda: [d for d in [gongwen(home, "send", *args)] if "UNKNOWN_UNIT" not in d.stderr],
                      message="the exchange to know the units")[0]
    return ok(done)


def other_ca(tmp_path):
    """A self-signed CA that never issued the seal: the offline check must refuse it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Not the operator")])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    path = tmp_path / "other-ca.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def test_the_multipart_body_carries_chinese_file_names_and_its_announced_length(tmp_path):
    body, attachment = tmp_path / "正文.html", tmp_path / 'a "名单".xlsx'
    body.write_bytes(b"<html>body</html>")
    attachment.write_bytes(b"PK\x03\x04" * 50_000)  # several chunks
    encoded = Multipart({"metadata": json.dumps({"title": "通知"}, ensure_ascii=False)},
                        [("body", body), ("attachments", attachment)])
    seen = []
    data = b"".join(encoded.chunks(lambda sent, total: seen.append((sent, total))))
    assert len(data) == encoded.length and seen[-1] == (encoded.length, encoded.length)
    assert [sent for sent, _ in seen] == sorted(sent for sent, _ in seen)
    _, form, files = parse_form_data({"REQUEST_METHOD": "POST", "CONTENT_TYPE": encoded.content_type,
                                      "CONTENT_LENGTH": str(len(data)), "wsgi.input": io.BytesIO(data)})
    assert json.loads(form["metadata"]) == {"title": "通知"}
    assert (files["body"].filename, files["body"].read()) == ("正文.html", body.read_bytes())
    [sent] = files.getlist("attachments")
    assert (sent.filename, sent.read()) == ('a "名单".xlsx', attachment.read_bytes())


def test_names_from_the_sender_cannot_lead_outside_the_folder():
    assert safe_name("../../etc/passwd", "x") == "passwd"
    assert safe_name("..\\..\\boot.ini", "x") == "boot.ini"
    assert safe_name("..", "attachment-1") == "attachment-1"
    assert safe_name("附件1 名单.xlsx", "x") == "附件1 名单.xlsx"
    assert safe_name("a\x00b:c?.txt", "x") == "a_b_c_.txt"
    assert safe_name("CON.txt", "x") == "_CON.txt"
    assert safe_name(None, "body") == "body"


def test_a_clerk_sends_and_the_recipient_fetches_verifies_signs_registers_and_returns(stack, tmp_path):
    operator = operator_login(stack)
    home = tmp_path / "home"
    home.mkdir()
    tag = uuid.uuid4().hex[:6]
    a = unit(operator, f"a-{tag}", "广州市人民政府办公厅")
    sender_id = clerk_in_cli(stack, operator, a, home, "sender")
    seal = {"unit_code": a, "custody": {"required_approvals": 1, "custodian_user_ids": [sender_id]}}
    applied = wait_until(lambda: [r for r in [operator.post("/api/v1/seals", json=seal)]
                                  if r.json().get("error") != "UNKNOWN_UNIT"], message="the seal service")[0]
    assert operator.post(f"/api/v1/seals/{applied.json()['serial']}/approve").status_code == 200
    b = unit(operator, f"b-{tag}", "收文单位")
    clerk_in_cli(stack, operator, b, home, "receiver")

    body, attachment = tmp_path / "正文.html", tmp_path / "附件1 名单.xlsx"
    body.write_bytes("<html>关于做好冬季安全生产工作的紧急通知</html>".encode())
    attachment.write_bytes(b"PK\x03\x04 spreadsheet")
    doc_number = f"穗府办〔2026〕{tag}号"
    sent = sent_once_known(home, "--doc-number", doc_number, "--title", "关于做好冬季安全生产工作的紧急通知",
                           "--signer", "李四", "--urgency", "urgent", "--main", b, "--print-grant", f"{b}=1",
                           "--paper-attachment", "图纸一套", "--body", str(body), "--attachment", str(attachment),
                           "--idempotency-key", f"first-{tag}", "--progress", "--profile", "sender")
    assert (sent["doc_number"], sent["receipt_count"]) == (doc_number, 1) and sent["seal_serial"]
    doc = sent["id"]

    listed = ok(gongwen(home, "inbox", "--urgency", "urgent", "--profile", "receiver"))["items"]
    assert [item["document"]["id"] for item in listed] == [doc]
    table = gongwen(home, "inbox", "--table", "--profile", "receiver", env={"COLUMNS": "300"})
    assert table.returncode == 0 and doc_number in table.stdout, table.stderr

    folder = tmp_path / "received"
    fetched = ok(gongwen(home, "fetch", doc, "--to", str(folder), "--profile", "receiver"))
    assert (fetched["valid"], fetched["reason"], fetched["unit_code"]) == (True, None, a)
    assert (folder / "正文.html").read_bytes() == body.read_bytes()
    assert (folder / "附件1 名单.xlsx").read_bytes() == attachment.read_bytes()
    assert json.loads((folder / "manifest.json").read_bytes())["doc_number"] == doc_number
    assert (folder / "signature.p7s").stat().st_size > 0 and b"BEGIN CERTIFICATE" in (folder / "ca.pem").read_bytes()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["manifest.json", "signature.p7s", "ca.pem", "正文.html", "附件1 名单.xlsx"])
    # The same files checked again, offline, by the existing command.
    again = gongwen(home, "verify", str(folder / "manifest.json"), str(folder / "signature.p7s"), "--ca",
                    str(folder / "ca.pem"), "--body", str(folder / "正文.html"), "--attachment",
                    f"附件1 名单.xlsx={folder / '附件1 名单.xlsx'}")
    assert again.returncode == 0 and again.stdout.startswith("VALID"), again.stdout + again.stderr
    untrusted = gongwen(home, "fetch", doc, "--to", str(tmp_path / "elsewhere"), "--ca", str(other_ca(tmp_path)),
                        "--profile", "receiver")
    assert untrusted.returncode == 1 and json.loads(untrusted.stdout)["valid"] is False, untrusted.stderr

    assert ok(gongwen(home, "sign", doc, "--profile", "receiver"))["state"] == "signed"
    registered = ok(gongwen(home, "register", doc, "--number", "收文1号", "--profile", "receiver"))
    assert registered["state"] == "registered"
    [row] = ok(gongwen(home, "inbox", "--profile", "receiver", "--state", "registered"))["items"]
    assert (row["document_id"], row["registration_number"]) == (doc, "收文1号")

    metadata = tmp_path / "metadata.json"
    metadata.write_text(json.dumps({"doc_number": "unused", "title": "关于召开会议的通知", "signer": "王五",
                                    "urgency": "normal", "main_recipients": [b]}, ensure_ascii=False))
    second = sent_once_known(home, "--metadata", str(metadata), "--doc-number", f"穗府办〔2026〕{tag}-2号",
                             "--body", str(body), "--profile", "sender")
    assert (second["doc_number"], second["receipt_count"]) == (f"穗府办〔2026〕{tag}-2号", 1)
    returned = ok(gongwen(home, "return", second["id"], "--reason", "主送单位有误", "--profile", "receiver"))
    assert returned["state"] == "returned"

    refused = gongwen(home, "sign", str(uuid.uuid4()), "--profile", "receiver")
    assert refused.returncode == 3 and json.loads(refused.stderr)["error"] == "NOT_FOUND", refused.stderr
    assert "Traceback" not in refused.stderr and refused.stdout == ""
