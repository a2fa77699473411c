"""The archive's ledger end to end (real services, broker and PostgreSQL): a full exchange run —
send, sign, register, return, resend, sign — lands in the ledger in causal order per document;
``gongwen ledger verify`` (its function, through the gateway) holds, and names the one row an
editor of the archive's database changed, removed or moved; proofs verify with hashlib alone."""
import base64
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import uuid
import zipfile

import bagit
import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import text

from conftest import Databases, operator_login, person, wait_until, when_known
from gongwen_cli.gateway import Gateway, Profiles
from gongwen_cli.ledger import verify_through
from gongwen_contracts.archive import merkle
from tests.test_documents import sealed_unit, send, system_of, unit


@pytest.fixture(scope="module")
def run(stack):
    """One document's whole life, and the ledger signed over it."""
    operator = operator_login(stack)
    a, clerk = sealed_unit(stack, operator)
    tag = uuid.uuid4().hex[:4]
    b, c = unit(operator, f"lb-{tag}", "账本乙"), unit(operator, f"lc-{tag}", "账本丙")
    systems = {code: system_of(stack, operator, code) for code in (b, c)}
    metadata = {"doc_number": f"穗账〔2026〕{tag}号", "title": "关于账本检查的通知", "signer": "李四",
                "urgency": "normal", "secrecy": "none", "main_recipients": [b, c]}
    sent = when_known(lambda: send(clerk, metadata), message="the exchange to know them")
    assert sent.status_code == 201, sent.text
    doc = sent.json()["id"]
    steps = [(systems[b], "sign", None), (systems[b], "register", {"registration_number": "收〔2026〕1号"}),
             (systems[c], "return", {"reason": "文号有误"})]
    for system, action, body in steps:
        assert system.post(f"/api/v1/documents/{doc}/{action}", json=body).status_code == 200, action
    assert clerk.post(f"/api/v1/documents/{doc}/resend", json={"unit_codes": [c]}).status_code == 200
    assert systems[c].post(f"/api/v1/documents/{doc}/sign").status_code == 200
    assert systems[c].post(f"/api/v1/documents/{doc}/register", json={"registration_number": "收〔2026〕2号"}) \
        .status_code == 200
    dbs = Databases(stack)
    expected = ["document_sent", "document_read", "receipt_signed", "receipt_registered", "document_returned",
                "document_sent", "document_read", "receipt_signed", "receipt_registered", "document_completed",
                "package_archived"]
    wait_until(lambda: len(dbs.rows("archive", "SELECT seq FROM ledger_entries WHERE document_id = :d", d=doc))
               >= len(expected), message="the archive to take every step")
    wait_until(lambda: dbs.rows("archive", "SELECT sha256 FROM archival_packages WHERE document_id = :d", d=doc),
               message="the archive to take in the completed document's package")
    with ClusterRpcProxy({"AMQP_URI": stack.amqp_uri}, timeout=30) as suite:
        suite.archive.publish_tree_head()
    gateway = Gateway(stack.gateway_url, operator.http.headers["Authorization"].split()[1])
    return {"doc": doc, "a": a, "b": b, "c": c, "dbs": dbs, "expected": expected, "gateway": gateway,
            "operator": operator, "systems": systems, "stack": stack, "clerk": clerk}


def doc_entries(run):
    return run["dbs"].rows("archive", "SELECT seq, event_type, leaf_input FROM ledger_entries "
                                      "WHERE document_id = :d ORDER BY seq", d=run["doc"])


def test_every_step_of_a_document_is_in_the_ledger_in_causal_order(run):
    rows = doc_entries(run)
    assert [event_type for _, event_type, _ in rows] == run["expected"]
    leaves = [json.loads(bytes(leaf)) for _, _, leaf in rows]
    assert [leaf["data"].get("receipt", {}).get("unit_code") for leaf in leaves[2:5]] == [run["b"], run["b"], run["c"]]
    assert leaves[5]["data"].get("resend") is True
    assert leaves[7]["data"]["receipt"]["unit_code"] == run["c"]


def test_the_whole_ledger_verifies_against_the_signed_tree_head(run):
    verdict = verify_through(run["gateway"])
    assert verdict.ok, verdict.summary()
    assert verdict.checked >= len(run["expected"])


def test_inclusion_and_consistency_proofs_from_the_gateway_verify_with_hashlib_alone(run):
    gateway = run["gateway"]
    head = gateway.request("GET", "/api/v1/ledger/tree-head")
    size, root = head["tree_size"], base64.b64decode(head["root_hash"])
    index = doc_entries(run)[0][0]
    entry = run["systems"][run["b"]].get(f"/api/v1/ledger/entries/{index}").json()
    path = gateway.request("GET", f"/api/v1/ledger/proof?index={index}&tree_size={size}")["audit_path"]
    assert merkle.verify_inclusion(merkle.leaf_hash(base64.b64decode(entry["leaf_input"])), index, size,
                                   [base64.b64decode(h) for h in path], root)
    first = []  # the entries up to the document's first, a page (at most 1,000) at a time
    while len(first) < index + 1:
        first += gateway.request("GET", f"/api/v1/ledger/entries?start={len(first)}"
                                        f"&limit={min(1000, index + 1 - len(first))}")["items"]
    first_root = merkle.root_from_leaf_hashes([merkle.leaf_hash(base64.b64decode(e["leaf_input"])) for e in first])
    proof = gateway.request("GET", f"/api/v1/ledger/consistency?first={index + 1}&second={size}")["proof"]
    assert merkle.verify_consistency(index + 1, size, first_root, root, [base64.b64decode(h) for h in proof])


def test_a_unit_reads_only_the_entries_that_concern_it(run):
    index = doc_entries(run)[0][0]
    outsider_unit = unit(run["operator"], f"lx-{uuid.uuid4().hex[:4]}", "无关单位")
    outsider = person(run["stack"], run["operator"], outsider_unit, "clerk").api
    assert outsider.get(f"/api/v1/ledger/entries/{index}").status_code == 404
    assert outsider.get("/api/v1/ledger/entries").status_code == 403
    assert run["systems"][run["b"]].get(f"/api/v1/ledger/entries/{index}").status_code == 200


class Tampering:
    """Edits the archive's database as an insider would, and puts it back afterwards."""

    def __init__(self, run):
        self.engine = run["dbs"].engines["archive"]

    def sql(self, statement, **params):
        with self.engine.begin() as db:
            db.execute(text(statement), params)


COLUMNS = ("seq", "event_id", "source", "event_type", "occurred_at", "document_id", "units", "leaf_input",
           "appended_at")


@pytest.mark.parametrize("how", ["rewrite the event", "edit a column", "delete the row", "swap two rows"])
def test_ledger_verify_names_the_one_row_an_insider_changed(run, how):
    (target, _, leaf), (neighbour, _, _) = doc_entries(run)[1], doc_entries(run)[2]
    tamper = Tampering(run)
    originals = run["dbs"].rows("archive", f"SELECT {', '.join(COLUMNS)} FROM ledger_entries WHERE seq IN (:s, :n)",
                                s=target, n=neighbour)
    changed = json.loads(bytes(leaf))
    changed["data"]["title"] = "改过的标题"
    forged = json.dumps(changed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    edits = {
        "rewrite the event": [("UPDATE ledger_entries SET leaf_input = :v WHERE seq = :s", {"v": forged, "s": target})],
        "edit a column": [("UPDATE ledger_entries SET event_type = 'document_recalled' WHERE seq = :s", {"s": target})],
        "delete the row": [("DELETE FROM ledger_entries WHERE seq = :s", {"s": target})],
        "swap two rows": [("UPDATE ledger_entries SET seq = -1 WHERE seq = :s", {"s": target}),
                          ("UPDATE ledger_entries SET seq = :s WHERE seq = :n", {"s": target, "n": neighbour}),
                          ("UPDATE ledger_entries SET seq = :n WHERE seq = -1", {"n": neighbour})],
    }[how]
    for statement, params in edits:
        tamper.sql(statement, **params)
    try:
        verdict = verify_through(run["gateway"])
        assert not verdict.ok
        assert verdict.findings[0].index == target, verdict.summary()
    finally:
        tamper.sql("DELETE FROM ledger_entries WHERE seq IN (:s, :n, -1)", s=target, n=neighbour)
        for row in originals:
            values = dict(zip(COLUMNS, row, strict=True))
            tamper.sql(f"INSERT INTO ledger_entries ({', '.join(COLUMNS)}) VALUES "
                       f"({', '.join('CAST(:units AS JSON)' if c == 'units' else ':' + c for c in COLUMNS)})",
                       **{**values, "units": json.dumps(values["units"])})
    assert verify_through(run["gateway"]).ok


def test_the_completed_documents_package_verifies_with_its_own_readme_and_bagit(run, tmp_path):
    reply = run["systems"][run["b"]].get(f"/api/v1/documents/{run['doc']}/archive")
    assert reply.status_code == 200 and reply.headers["Content-Type"] == "application/zip"
    kept = run["dbs"].rows("archive", "SELECT sha256, check_result FROM archival_packages WHERE document_id = :d",
                           d=run["doc"])[0]
    assert hashlib.sha256(reply.content).hexdigest() == kept[0]
    check = kept[1] if isinstance(kept[1], dict) else json.loads(kept[1])
    assert check["ok"], check
    with zipfile.ZipFile(io.BytesIO(reply.content)) as package:
        package.extractall(tmp_path)
        folder = tmp_path / package.namelist()[0].split("/", 1)[0]
    bagit.Bag(str(folder)).validate()
    script = re.search(r"```sh\n(.*?)```", (folder / "data" / "README.md").read_text(), re.S).group(1)
    ran = subprocess.run(["sh", "-c", script], cwd=folder, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "seal: OK" in ran.stdout and "ledger entries: OK" in ran.stdout
    receipts = json.loads((folder / "data" / "receipts.json").read_text())
    assert {r["unit_code"] for r in receipts} == {run["b"], run["c"]}


def test_another_unit_gets_no_package(run):
    outsider_unit = unit(run["operator"], f"lz-{uuid.uuid4().hex[:4]}", "无关单位乙")
    outsider = person(run["stack"], run["operator"], outsider_unit, "clerk").api
    assert outsider.get(f"/api/v1/documents/{run['doc']}/archive").status_code == 404


def test_a_unit_finds_its_document_by_a_chinese_word_and_others_find_nothing(run):
    hits = run["systems"][run["b"]].get("/api/v1/search", params={"q": "账本检查"}).json()["items"]
    assert [hit["document_id"] for hit in hits] == [run["doc"]]
    assert hits[0]["signer"] == "李四"
    outsider_unit = unit(run["operator"], f"ly-{uuid.uuid4().hex[:4]}", "无关单位丙")
    outsider = person(run["stack"], run["operator"], outsider_unit, "clerk").api
    assert outsider.get("/api/v1/search", params={"q": "账本检查"}).json()["items"] == []
    assert run["operator"].get("/api/v1/search", params={"q": "账本", "unit": run["c"]}).json()["items"][0][
        "document_id"] == run["doc"]


def test_disposal_before_the_retention_ends_is_refused_and_changes_nothing(run):
    refused = run["operator"].post(f"/api/v1/documents/{run['doc']}/disposal-approvals")
    assert refused.status_code == 409 and refused.json()["error"] == "RETENTION_NOT_PASSED"
    assert run["dbs"].rows("archive", "SELECT count(*) FROM disposal_approvals")[0][0] == 0
    assert run["systems"][run["b"]].get(f"/api/v1/documents/{run['doc']}/archive").status_code == 200


def test_the_cli_verifies_the_ledger_and_finds_the_document(run, tmp_path):
    token = run["operator"].http.headers["Authorization"].split()[1]
    Profiles(tmp_path).save("default", {"gateway": run["stack"].gateway_url, "username": "operator",
                                        "access_token": token})
    env = {**os.environ, "GONGWEN_HOME": str(tmp_path)}

    def gongwen(*args):
        return subprocess.run([sys.executable, "-m", "gongwen_cli", *args], env=env, capture_output=True, text=True,
                              timeout=120)

    verified = gongwen("ledger", "verify")
    assert verified.returncode == 0 and "ledger verified" in verified.stdout, verified.stdout + verified.stderr
    found = gongwen("search", "账本检查", "--unit", run["b"])
    assert found.returncode == 0, found.stderr
    assert [hit["document_id"] for hit in json.loads(found.stdout)["items"]] == [run["doc"]]
    package = gongwen("archive", "get", run["doc"], "--out", str(tmp_path / "package.zip"))
    assert package.returncode == 0 and zipfile.is_zipfile(tmp_path / "package.zip"), package.stderr
