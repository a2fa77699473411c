"""An upgrade from the previous release's schema with data: the databases the release made
(``tests/upgrade/release-<commit>/``, made by ``tests/upgrade/make_fixture.py`` running that
release's own stack) are loaded into fresh PostgreSQL databases, today's stack migrates them at
start and the scenario carries on: the old documents are readable and their seal verifies, the
waiting one is signed for, a new document sends and is signed, the old SMS is still on record and
the ledger verifies across both releases' entries."""
import importlib
import json
import subprocess
import uuid
from pathlib import Path

from alembic.script import ScriptDirectory
from cryptography.hazmat.primitives import serialization
from nameko.standalone.rpc import ClusterRpcProxy

from conftest import TEST_ENV, Api, Databases, logged_in, operator_login, wait_until
from gongwen_cli.gateway import Gateway
from gongwen_cli.ledger import verify_through
from gongwen_common import migrate
from gongwen_local.ports import free_port
from gongwen_local.stack import SERVICES, Stack
from tests.test_backup_restore import verifies_offline
from tests.test_documents import send

RELEASE = Path(__file__).parent / "upgrade" / "release-21c07cc"


def load_release(postgres, tag) -> dict:
    """service -> URL of a fresh database holding the release's dump."""
    urls = {}
    for service in SERVICES:
        name = f"up{tag}_{service}"
        postgres.create_database(name)
        loaded = subprocess.run([str(postgres.bin_dir / "psql"), "-q", "-X", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                                 "-p", str(postgres.port), "-U", "postgres", "-d", name,
                                 "-f", str(RELEASE / f"{service}.sql")], capture_output=True, text=True, timeout=120)
        assert loaded.returncode == 0, f"{service}: {loaded.stderr}"
        urls[service] = postgres.url(name)
    return urls


def key(pem):
    return serialization.load_pem_private_key(pem.encode(), password=None)


def notice(recipient, number):
    return {"doc_number": f"升〔2026〕{number}号", "title": "关于系统升级后继续办文的通知", "signer": "张三",
            "urgency": "normal", "secrecy": "none", "main_recipients": [recipient]}


def test_an_upgrade_from_the_previous_releases_databases_carries_the_scenario_on(rabbit, postgres, fake_twilio,
                                                                                 test_var, tmp_path):
    scenario = json.loads((RELEASE / "scenario.json").read_text())
    tag = uuid.uuid4().hex[:8]
    urls = load_release(postgres, tag)
    dbs = Databases(type("Loaded", (), {"database_urls": urls}))
    before = {s: dbs.scalar(s, "SELECT version_num FROM alembic_version") for s in SERVICES}
    rabbit.add_vhost(tag)
    stack = Stack(rabbit.amqp_uri(tag), urls, free_port(), test_var / "logs" / f"upgrade-{tag}",
                  env={**TEST_ENV, **fake_twilio.env, **scenario["keks"]})
    stack.operator = (scenario["operator"]["username"], scenario["operator"]["password"],
                      key(scenario["operator"]["key"]))
    try:
        stack.start()  # migrates every database (today's revisions) before any service runs
        for service, (package, _, _) in SERVICES.items():
            head = ScriptDirectory.from_config(migrate.alembic_config(package, urls[service])).get_current_head()
            assert dbs.scalar(service, "SELECT version_num FROM alembic_version") == head, (service, before[service])
            models = importlib.import_module(f"{package}.models")  # the upgraded schema is today's
            assert migrate.differences_from_models(package, models.Base.metadata, urls[service]) == [], service

        operator = operator_login(stack)
        clerk = logged_in(Api(stack.gateway_url), scenario["clerk"]["username"], scenario["clerk"]["password"],
                          key(scenario["clerk"]["key"]))
        system = Api(stack.gateway_url)
        token = system.post("/api/v1/auth/token", json=scenario["client"])
        assert token.status_code == 200, token.text
        system.http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

        # the release's documents: readable, the signed one signed, the waiting one's seal verifies
        old_signed, old_pending = scenario["signed_document"], scenario["pending_document"]
        assert system.get(f"/api/v1/documents/{old_signed}").json()["receipt"]["state"] == "signed"
        assert verifies_offline(system, old_signed, tmp_path / "old-signed")
        assert verifies_offline(system, old_pending, tmp_path / "old-pending")
        signed = system.post(f"/api/v1/documents/{old_pending}/sign")  # the exchange checks the old seal again
        assert signed.status_code == 200 and signed.json()["state"] == "signed", signed.text

        # the release's seal signs today's document, which arrives and is signed for
        fresh = send(clerk, notice(scenario["recipient"], uuid.uuid4().hex[:6]))
        assert fresh.status_code == 201, fresh.text
        new_doc = fresh.json()["id"]
        assert verifies_offline(system, new_doc, tmp_path / "new")
        signed = system.post(f"/api/v1/documents/{new_doc}/sign")
        assert signed.status_code == 200 and signed.json()["state"] == "signed", signed.text
        matrix = clerk.get(f"/api/v1/documents/{old_pending}/receipts").json()["items"]
        assert [row["state"] for row in matrix] == ["signed"]

        # the SMS the release sent is on record, as Twilio accepted it
        assert dbs.scalar("notify", "SELECT provider_sid FROM messages WHERE id = :m", m=scenario["sms_message"])

        # the ledger verifies over the release's entries and today's
        wait_until(lambda: dbs.scalar("archive", "SELECT count(*) FROM ledger_entries WHERE document_id = :d",
                                      d=new_doc) >= 2, message="the archive to record the new document's steps")
        with ClusterRpcProxy({"AMQP_URI": stack.amqp_uri}, timeout=30) as suite:
            suite.archive.publish_tree_head()
        verdict = verify_through(Gateway(stack.gateway_url, operator.http.headers["Authorization"].split()[1]))
        assert verdict.ok, verdict.summary()
        old_entries = dbs.scalar("archive", "SELECT count(*) FROM ledger_entries WHERE document_id = :d", d=old_signed)
        assert old_entries >= 2 and verdict.checked > old_entries
    finally:
        stack.stop()
        for engine in dbs.engines.values():
            engine.dispose()
