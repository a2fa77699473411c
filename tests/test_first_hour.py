"""The first hour of someone evaluating Gongwen with the README alone.

Against ``python -m gongwen_local run`` (what ``make run`` runs), on ports of its own: the README's
"Your first document" block runs exactly as written (taken from the README, not copied here) in a
folder laid out like the repository; refusals come as JSON with exit 3; the operator's path runs
from the command line right after a unit is approved; the demo is made once; the served OpenAPI
document is ``docs/openapi.json``. And without a suite: the repository links nothing outside
itself, every package names its license, ``make clean`` deletes nothing without ``FORCE=1``.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from conftest import wait_until
from gongwen_local.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FIRST_DOCUMENT = "## Your first document"


def first_document_blocks(readme: str) -> list[str]:
    """The fenced ``sh`` blocks of the README's "Your first document" section, as written."""
    section = readme.split(FIRST_DOCUMENT, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```sh\n(.*?)^```$", section, re.M | re.S)


# -- the suite as `make run` starts it --------------------------------------------------------

@pytest.fixture(scope="module")
def demo(test_var):
    """``gongwen_local run`` on free ports, its banner and its var folder; stopped (SIGTERM) at the end."""
    var = test_var / "first-hour"
    gateway_port, amqp_port = free_port(), free_port()
    log_path = test_var / "first-hour.log"
    with open(log_path, "w+") as log:
        runner = subprocess.Popen(
            [sys.executable, "-m", "gongwen_local", "run", "--var", str(var), "--gateway-port", str(gateway_port),
             "--amqp-port", str(amqp_port), "--management-port", str(free_port())],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "Gongwen is running." in log_path.read_text() or runner.poll() is not None,
                   timeout=180, message="the suite and its demo")
        assert runner.poll() is None, log_path.read_text()
        yield {"gateway": f"http://127.0.0.1:{gateway_port}", "amqp_uri": f"pyamqp://guest:guest@127.0.0.1:{amqp_port}/",
               "var": var, "banner": log_path.read_text()}
    finally:
        runner.terminate()
        assert runner.wait(90) == 0


@pytest.fixture
def workdir(demo, tmp_path, monkeypatch):
    """A folder laid out like the repository's root for the README's commands: ``var`` is the
    demo's, ``.venv`` the project's. The CLI keeps its tokens in a home of this test's own and
    finds the gateway by ``GONGWEN_GATEWAY`` (the README's default port is taken by ``make run``)."""
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "var").symlink_to(demo["var"])
    (folder / ".venv").symlink_to(ROOT / ".venv")
    monkeypatch.setenv("GONGWEN_HOME", str(folder / "home"))
    monkeypatch.setenv("GONGWEN_GATEWAY", demo["gateway"])
    for name in ("GONGWEN_PROFILE", "GONGWEN_PASSWORD", "GONGWEN_NEW_PASSWORD", "GONGWEN_INITIAL_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return folder


def gongwen(workdir, *args, stdin=None, env=None):
    return subprocess.run([sys.executable, "-m", "gongwen_cli", *args], cwd=workdir, capture_output=True, text=True,
                          timeout=120, input=stdin, env={**os.environ, **(env or {})})


def ok(done):
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    return json.loads(done.stdout) if done.stdout.strip().startswith(("{", "[")) else done.stdout


def accounts(demo) -> dict:
    return json.loads((demo["var"] / "demo" / "accounts.json").read_text())


@pytest.mark.slow
def test_the_readme_first_document_runs_as_written_against_the_make_run_demo(demo, workdir):
    blocks = first_document_blocks(README.read_text(encoding="utf-8"))
    assert blocks, f"no ```sh block under {FIRST_DOCUMENT!r} in the README"
    script = "\n".join(blocks)
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=workdir, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert '"valid": true' in done.stdout, done.stdout  # fetch verified the seal offline
    assert "Traceback" not in done.stderr
    # demo-a's clerk (the default profile) sees the receipt matrix: demo-b registered it
    [sent] = ok(gongwen(workdir, "outbox"))["items"]
    assert sent["receipt_counts"] == {"registered": 1}
    [receipt] = ok(gongwen(workdir, "receipts", sent["id"]))["items"]
    assert (receipt["unit_code"], receipt["state"], receipt["registration_number"]) == (
        "demo-b", "registered", "收文〔2026〕1号")
    assert receipt["first_read_at"] and receipt["signed_at"]


@pytest.mark.slow
def test_make_run_prints_two_clerks_past_their_first_login_and_an_active_seal(demo, workdir):
    made = accounts(demo)
    assert made["ready"] is True and [c["unit_code"] for c in made["clerks"]] == ["demo-a", "demo-b"]
    for clerk in made["clerks"]:
        assert f"demo clerk     {clerk['username']} / {clerk['password']}" in demo["banner"]
        logged = gongwen(workdir, "login", "--username", clerk["username"], "--key-file", clerk["key_file"],
                         "--profile", clerk["username"], "--password-stdin", stdin=clerk["password"] + "\n")
        assert logged.returncode == 0 and "change your initial password" not in logged.stdout, logged.stderr
        assert ok(gongwen(workdir, "me", "--profile", clerk["username"]))["unit_code"] == clerk["unit_code"]
    operator = made["operator"]
    assert f"demo operator  {operator['username']} / {operator['password']}" in demo["banner"]
    ok(gongwen(workdir, "login", "--username", operator["username"], "--key-file", operator["key_file"],
               "--profile", "op", "--password-stdin", stdin=operator["password"]))
    seal = ok(gongwen(workdir, "seals", "show", made["seal"]["serial"], "--profile", "op"))
    assert (seal["unit_code"], seal["status"]) == ("demo-a", "active")
    assert f"demo seal      {seal['serial']} (active) of demo-a" in demo["banner"]


@pytest.mark.slow
def test_the_demo_is_made_once_and_finishing_it_again_changes_nothing(demo):
    from gongwen_local.demo import ensure_demo

    path = demo["var"] / "demo" / "accounts.json"
    first = json.loads(path.read_text())
    keys = {p.name: p.read_bytes() for p in (demo["var"] / "demo").glob("*.pem")}
    assert ensure_demo(demo["amqp_uri"], demo["gateway"], demo["var"]) == first  # ready: nothing is done
    # As if the first run had stopped before its last step: every step is found done, none repeated.
    path.write_text(json.dumps({**first, "ready": False}, ensure_ascii=False))
    assert ensure_demo(demo["amqp_uri"], demo["gateway"], demo["var"]) == first
    assert {p.name: p.read_bytes() for p in (demo["var"] / "demo").glob("*.pem")} == keys


@pytest.mark.slow
def test_a_refusal_prints_the_code_the_fields_and_a_next_step_as_json_and_exits_3(demo, workdir):
    clerk = accounts(demo)["clerks"][0]
    ok(gongwen(workdir, "login", "--username", clerk["username"], "--key-file", clerk["key_file"],
               "--password-stdin", stdin=clerk["password"]))
    body = workdir / "body.html"
    body.write_text("<p>通知</p>")
    to_itself = gongwen(workdir, "send", "--doc-number", f"示范办〔2026〕{uuid.uuid4().hex[:6]}号", "--title", "通知",
                        "--signer", "张三", "--urgency", "normal", "--main", "demo-b", "demo-a", "--body", str(body))
    assert to_itself.returncode == 3 and to_itself.stdout == "", to_itself.stderr
    error = json.loads(to_itself.stderr)
    assert error["error"] == "VALIDATION_ERROR" and "main_recipients" in error["fields"]
    assert error["next"] and error["request_id"]
    unknown = gongwen(workdir, "sign", str(uuid.uuid4()))
    assert unknown.returncode == 3 and json.loads(unknown.stderr)["error"] == "NOT_FOUND"
    assert "Traceback" not in to_itself.stderr + unknown.stderr


@pytest.mark.slow
def test_the_operator_runs_units_accounts_and_seals_from_the_cli_right_after_approval(demo, workdir):
    """No HTTP by hand: apply and approve a unit, create its two clerks at once (the CLI waits for the
    directory to reach identity), their first password change, a seal under two-person custody,
    a send that waits for both custodians' approvals, then sealed and sent; and the seal revoked."""
    operator = accounts(demo)["operator"]
    ok(gongwen(workdir, "login", "--username", operator["username"], "--key-file", operator["key_file"],
               "--profile", "op", "--password-stdin", stdin=operator["password"]))
    code = f"u-{uuid.uuid4().hex[:6]}"
    assert ok(gongwen(workdir, "units", "apply", "--code", code, "--name", "命令行局", "--kind", "department",
                      "--profile", "op"))["status"] == "applied"
    waiting = ok(gongwen(workdir, "approvals", "--profile", "op"))
    assert code in [unit["code"] for unit in waiting["units"]]
    assert ok(gongwen(workdir, "units", "approve", code, "--profile", "op"))["status"] == "active"

    clerks = []
    for n in (1, 2):
        key = ec.generate_private_key(ec.SECP256R1())
        (workdir / f"c{n}.key.pem").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        (workdir / f"c{n}.pub.pem").write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        user = ok(gongwen(workdir, "users", "create", "--username", f"{code}-c{n}", "--name", f"文书{n}",
                          "--unit", code, "--role", "clerk", "custodian", "--mobile", "13800138000",
                          "--public-key", f"c{n}.pub.pem", "--profile", "op",
                          env={"GONGWEN_INITIAL_PASSWORD": "Gw-Initial-2026!"}))
        assert (user["status"], user["roles"]) == ("active", ["clerk", "custodian"])
        profile = f"c{n}"
        first = gongwen(workdir, "login", "--username", user["username"], "--key-file", f"c{n}.key.pem", "--profile",
                        profile, env={"GONGWEN_PASSWORD": "Gw-Initial-2026!"})
        assert "change your initial password now: gongwen password" in first.stdout, first.stderr
        blocked = gongwen(workdir, "inbox", "--profile", profile)
        assert blocked.returncode == 3 and "gongwen password" in json.loads(blocked.stderr)["next"]
        changed = gongwen(workdir, "password", "--password-stdin", "--profile", profile,
                          stdin="Gw-Initial-2026!\nGw-Changed-2026?\n")
        assert changed.returncode == 0 and "logged in again" in changed.stdout, changed.stderr
        assert ok(gongwen(workdir, "inbox", "--profile", profile))["items"] == []
        clerks.append(user["user_id"])

    applied = ok(gongwen(workdir, "seals", "apply", "--unit", code, "--custodian", *clerks, "--required-approvals",
                         "2", "--profile", "op"))
    serial = applied["serial"]
    assert ok(gongwen(workdir, "seals", "approve", serial, "--profile", "op"))["status"] == "active"
    (workdir / "body.html").write_text("<p>关于双人保管的通知</p>")
    waiting = ok(gongwen(workdir, "send", "--doc-number", f"命令行〔2026〕{code}号", "--title", "关于双人保管的通知",
                         "--signer", "王五", "--urgency", "normal", "--main", "demo-b", "--body", "body.html",
                         "--profile", "c1"))
    assert waiting["status"] == "awaiting_seal"
    approvals = [ok(gongwen(workdir, "seals", "approve-use", serial, "--manifest-sha256", waiting["manifest_sha256"],
                            "--profile", profile))["approval_id"] for profile in ("c1", "c2")]
    sealed = ok(gongwen(workdir, "seal", waiting["id"], "--approval", *approvals, "--profile", "c1"))
    assert (sealed["status"], sealed["seal_serial"]) == ("sent", serial)
    assert ok(gongwen(workdir, "receipts", waiting["id"], "--profile", "c1"))["items"][0]["unit_code"] == "demo-b"
    revoked = ok(gongwen(workdir, "seals", "revoke", serial, "--reason", "演示结束", "--profile", "op"))
    assert revoked["status"] == "revoked"


@pytest.mark.slow
def test_the_served_openapi_document_is_docs_openapi_json(demo):
    served = requests.get(f"{demo['gateway']}/api/v1/openapi.json", timeout=30).json()
    assert served == json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8")), (
        "regenerate: .venv/bin/python -m gongwen_gateway.openapi > docs/openapi.json")


# -- the repository on its own (no suite) -----------------------------------------------------

def test_docs_openapi_json_is_the_document_the_gateway_builds():
    """Regenerate with ``.venv/bin/python -m gongwen_gateway.openapi > docs/openapi.json``."""
    from gongwen_gateway.openapi import build_spec
    from gongwen_gateway.service import GatewayService  # noqa: F401  (declares the routes)

    checked_in = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert checked_in == json.loads(json.dumps(build_spec())), (
        "regenerate: .venv/bin/python -m gongwen_gateway.openapi > docs/openapi.json")
    documents = checked_in["paths"]["/api/v1/documents"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert documents["schema"]["properties"]["metadata"] == {"$ref": "#/components/schemas/Metadata"}


def tracked_text_files():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in listed.decode().split("\0"):
        path = ROOT / name
        if name and path.is_file() and path.suffix not in {".png", ".ttc", ".pdf"}:
            try:
                yield path, path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue


# Written in pieces so this file does not match itself.
OUTSIDE = re.compile("|".join([re.escape("../" + "shared"), re.escape("/" + "work/"), "shared/" + "(?:docs|seeds)",
                               re.escape("/" + "home/"), re.escape("/" + "root/")]))
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_no_file_in_the_repository_links_outside_it():
    outside, broken = [], []
    for path, text in tracked_text_files():
        outside += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in OUTSIDE.finditer(text)]
        if path.suffix == ".md":
            for target in LINK.findall(text):
                if re.match(r"[a-z]+:|#", target):  # a URL or an anchor of the same page
                    continue
                resolved = (path.parent / target.split("#")[0]).resolve()
                if not resolved.is_relative_to(ROOT) or not resolved.exists():
                    broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert outside == [] and broken == [], (outside, broken)


def test_every_package_declares_the_apache_license():
    projects = [p for p in ROOT.glob("**/pyproject.toml") if ".venv" not in p.parts and "var" not in p.parts]
    packages = [p for p in projects if "[project]" in p.read_text()]
    assert len(packages) >= 10
    assert [p for p in packages if 'license = "Apache-2.0"' not in p.read_text()] == []
    assert "Apache License" in (ROOT / "LICENSE").read_text() and "Version 2.0" in (ROOT / "LICENSE").read_text()


def test_the_domain_notes_name_each_regulation_by_its_title():
    domain = (ROOT / "docs" / "domain.md").read_text(encoding="utf-8")
    titles = {"Zhangye 2009": "张掖市党政综合办公系统运行管理办法", "Yan'an 2017": "延安市电子公文传输管理暂行办法",
              "Guangzhou 2011": "广州市电子政务外网电子公文交换管理办法",
              "Baiyin 2006": "白银市市级党政机关办公自动化系统管理办法",
              "Wuhan 2007": "关于推进市建委系统办公电子化工作的意见"}
    for short, title in titles.items():
        assert title in domain and f"{short} " in domain.split("## Actors", 1)[1], short
    # every citation names its regulation, none is a bare number
    assert not re.search(r"\b00[0-4] (?:§|六|五|三|第)", domain.split("## Actors", 1)[1])


def test_make_clean_without_force_deletes_nothing_and_says_why(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    for kept in (".venv/bin/python", "var/keks.json", "var/db/seal.sqlite3", "var/demo/accounts.json"):
        (tmp_path / kept).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / kept).write_text("x")
    refused = subprocess.run(["make", "-s", "clean"], cwd=tmp_path, capture_output=True, text=True,
                             env={k: v for k, v in os.environ.items() if k not in ("FORCE", "GONGWEN_VAR")})
    assert refused.returncode != 0
    said = refused.stdout + refused.stderr
    assert "keks.json" in said and "FORCE=1" in said and "Nothing was deleted" in said, said
    assert all((tmp_path / kept).exists() for kept in (".venv/bin/python", "var/keks.json", "var/db/seal.sqlite3"))
    forced = subprocess.run(["make", "-s", "clean", "FORCE=1"], cwd=tmp_path, capture_output=True, text=True)
    assert forced.returncode == 0 and not (tmp_path / "var").exists() and not (tmp_path / ".venv").exists()
