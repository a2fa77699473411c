"""Make the upgrade test's fixture: the previous release's databases, with data, made by that release.

    .venv/bin/python tests/upgrade/make_fixture.py [--commit 21c07cc] [--out tests/upgrade/release-21c07cc]

1. ``git archive COMMIT`` into a temporary directory (the release's whole tree, nothing of today's);
2. run this file again there as the *driver*, with that tree's packages first on ``PYTHONPATH``
   (before the editable installs of today's tree), so the broker, PostgreSQL, the fake Twilio, the
   stack and the scenario helpers (its ``conftest.py``, ``tests/test_documents.py``) are all the
   release's own;
3. the driver starts the release's stack on fresh PostgreSQL databases and drives a short
   scenario: the operator, a sending unit with a clerk and an approved seal, a receiving unit
   with its office system's client credentials, one sealed document sent and signed for, one sent
   and still waiting, one SMS accepted by (the fake) Twilio;
4. it stops the stack and writes ``pg_dump --inserts`` of every service database (``<service>.sql``)
   and ``scenario.json`` (who and what the test carries on with: the test accounts' passwords and
   device keys, the client credentials, the documents, and the test KEKs the wrapped keys need —
   test material only, never a deployment's) into ``--out``.

``tests/test_upgrade.py`` loads these into fresh databases, migrates them with today's migrations,
starts today's stack and checks the scenario carries on. The fixture is committed: the test runs
in a fresh clone and offline; make it again only for a new previous release.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve()
PACKAGE_DIRS = ["common", "contracts", "services/registry", "services/identity", "services/seal",
                "services/exchange", "services/notify", "services/archive", "gateway", "deploy/local",
                "deploy/fake_twilio", "cli"]


def extract(commit: str, into: Path) -> Path:
    repo = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=HERE.parent, capture_output=True, text=True,
                          check=True).stdout.strip()
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=repo, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commit", default="21c07cc")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = (args.out or HERE.parent / f"release-{args.commit}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gongwen-release-") as temp:
        os.chmod(temp, 0o755)  # PostgreSQL runs as its own user when we are root: it must reach its data
        release = extract(args.commit, Path(temp))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(release), *(str(release / d) for d in PACKAGE_DIRS)])}
        subprocess.run([sys.executable, str(HERE), "--drive", str(release), str(out), args.commit], env=env,
                       cwd=release, check=True)
    print(f"wrote {out}: " + ", ".join(f"{p.name} {p.stat().st_size // 1024} KiB" for p in sorted(out.iterdir())))


# -- the driver: runs on the release's code only ---------------------------------------------------

def drive(release: Path, out: Path, commit: str):
    sys.path[:0] = [str(release)]
    from gongwen_fake_twilio.launcher import FakeTwilioProcess

    import conftest  # the release's: eventlet is patched before anything else
    from gongwen_local.postgres import PostgresCluster
    from gongwen_local.rabbitmq import RabbitNode
    from gongwen_local.stack import ROOT

    assert ROOT == release, f"the driver must run the release's stack, not {ROOT}"
    var = release / "var" / "upgrade-fixture"
    var.mkdir(parents=True)
    rabbit, postgres = RabbitNode(var / "rabbit", node_name=f"gwup{os.getpid()}"), PostgresCluster(var / "postgres")
    fake = FakeTwilioProcess(var / "fake-twilio.log")
    rabbit.start()
    postgres.start()
    fake.start()
    try:
        write_fixture(conftest, rabbit, postgres, fake, var, out, commit)
    finally:
        fake.stop()
        postgres.stop()
        rabbit.stop()


def write_fixture(conftest, rabbit, postgres, fake, var, out, commit):
    from cryptography.hazmat.primitives import serialization

    from tests.test_documents import send, unit
    from tests.test_sms_delivery import Notify, all_accepted

    factory = conftest.StackFactory(rabbit, postgres, var / "logs", env=fake.env)
    try:
        stack = factory()
        operator = conftest.operator_login(stack)
        sender = unit(operator, "up-sender", "升级示范市人民政府办公厅")
        clerk = conftest.person(stack, operator, sender, "clerk")
        seal = {"unit_code": sender, "custody": {"required_approvals": 1, "custodian_user_ids": [clerk.user_id]}}
        applied = conftest.when_known(lambda: operator.post("/api/v1/seals", json=seal), message="the seal service")
        serial = applied.json()["serial"]
        assert operator.post(f"/api/v1/seals/{serial}/approve").status_code == 200
        recipient = unit(operator, "up-recipient", "升级示范市教育局")
        client = conftest.when_known(lambda: operator.post(f"/api/v1/units/{recipient}/clients"),
                                     message="identity to know the unit").json()
        system = conftest.Api(stack.gateway_url)
        token = system.post("/api/v1/auth/token", json={k: client[k] for k in ("client_id", "client_secret")})
        system.http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

        def notice(number):
            return {"doc_number": f"升〔2026〕{number}号", "title": "关于系统升级的通知", "signer": "张三",
                    "urgency": "normal", "secrecy": "none", "main_recipients": [recipient]}

        signed = conftest.wait_until(lambda: [r for r in [send(clerk.api, notice(1))] if r.status_code == 201],
                                     message="the exchange to know the units")[0].json()["id"]
        assert system.post(f"/api/v1/documents/{signed}/sign").json()["state"] == "signed"
        pending = send(clerk.api, notice(2))
        assert pending.status_code == 201, pending.text
        notify = Notify(stack)
        sms = notify.queue(1, to="+8613900000001", unit_code=recipient)
        conftest.wait_until(all_accepted(notify, sms), message="Twilio to accept the SMS")
        dbs = conftest.Databases(stack)
        conftest.wait_until(lambda: dbs.scalar("archive", "SELECT count(*) FROM ledger_entries") >= 3,
                            message="the archive to record the steps")
        conftest.wait_until(lambda: not any(dbs.scalar(s, "SELECT count(*) FROM outbox_events WHERE sent_at IS NULL")
                                            for s in stack.database_urls), message="every event published")
    finally:
        factory.close()

    def pem(key):
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()

    for service, url in stack.database_urls.items():
        name = url.rsplit("/", 1)[1]
        dump = subprocess.run([str(postgres.bin_dir / "pg_dump"), "--inserts", "--no-owner", "--no-privileges",
                               "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres", name],
                              capture_output=True, text=True, check=True).stdout
        # drop what names the dumping server's version only (a newer server loads the rest as it is)
        lines = [line for line in dump.splitlines() if not line.startswith(("-- Dumped", "SET transaction_timeout"))]
        (out / f"{service}.sql").write_text("\n".join(lines) + "\n")
    operator_name, operator_password, operator_key = stack.operator
    scenario = {
        "release": commit, "keks": {k: v for k, v in conftest.TEST_ENV.items() if k.endswith("_KEK")},
        "operator": {"username": operator_name, "password": operator_password, "key": pem(operator_key)},
        "clerk": {"username": clerk.username, "password": conftest.CHANGED_PASSWORD, "key": pem(clerk.key)},
        "sender": sender, "seal_serial": serial, "recipient": recipient,
        "client": {k: client[k] for k in ("client_id", "client_secret")},
        "signed_document": signed, "pending_document": pending.json()["id"], "sms_message": sms[0],
    }
    (out / "scenario.json").write_text(json.dumps(scenario, ensure_ascii=False, indent=1) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--drive":
        drive(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])
    else:
        main()
