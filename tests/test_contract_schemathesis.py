"""The OpenAPI document is the contract integrators build against: schemathesis (pinned in
constraints.txt) fuzzes every operation of the served ``/api/v1/openapi.json`` with every check,
positive and negative data, as the operator, a clerk, a unit's ``system`` client and
anonymously, against the real stack (services, broker, PostgreSQL). Any finding fails.

Each identity stays logged in: the operations that would end or change the identity the fuzzer
uses (logout, one's password, disabling or resetting an account, revoking a client, naming a
proxy) are fuzzed with a throwaway identity of the same role, never with the main token. Every
operation an identity's role may call must be reached at least once with an answer other than
401/403 (a count per identity is printed).

``schemathesis_hooks.py`` corrects two faults of the pinned tool (threads sharing CPython 3.11's AST
validator; multipart file parts judged as text); a run's report says how many failures it dropped.
"""
import json
import os
import re
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from conftest import Api, StackFactory, active_unit, operator_login, person

pytestmark = pytest.mark.timeout(600)

HERE = Path(__file__).parent

EXAMPLES = 6  # per operation and phase: the whole run stays within ~3 minutes on 2 cores

# A schema-valid request may still be refused by a domain rule: the document's 422 ("Rejected by a
# domain rule") is an answer to well-formed data, like 404 and 409; a 400 never is.
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]
"""

# Operations that could end or change the identity that calls them (its token, its password, its
# account, its unit, its client): never in an identity's main run, where the fuzzer reuses the ids
# it has seen (it would revoke its own unit). Each is fuzzed alone, with a fresh throwaway account (or
# client) of the same kind, after every main run: alone, the fuzzer knows no id of ours to aim it at
# but its own, read from its token.
SELF_ENDING = ("POST /api/v1/auth/logout", "POST /api/v1/auth/act-for",
               "POST /api/v1/users/{user_id}/disable", "POST /api/v1/users/{user_id}/reset-password",
               "POST /api/v1/users/{user_id}/devices", "DELETE /api/v1/units/{code}/clients/{client_id}",
               "POST /api/v1/units/{code}/revoke", "POST /api/v1/units/merge", "POST /api/v1/auth/password")

# Findings still open, each with the exact failure; anything else fails the test.
KNOWN_FINDINGS = {
}

# Operations a role may call by the document yet always refused (403) for that kind of caller by a
# rule of the domain: a department system has no password and cannot be a proxy.
REFUSED_BY_RULE = {"system": {"POST /api/v1/auth/password", "POST /api/v1/auth/act-for"}}
# Twilio's status callbacks are public but want Twilio's signature over their exact URL and body, which
# no caller has: always 403 here (tests/test_sms_delivery.py signs them as Twilio does).
SIGNED_BY_TWILIO = {"POST /api/v1/twilio/messages/status", "POST /api/v1/twilio/calls/status"}


@pytest.fixture(scope="module")
def stack(rabbit, postgres, test_var, fake_twilio):
    """Its own, not the session's: the operator's run acts on whatever it lists (units, seals,
    policies, templates), which no other module may find changed."""
    yield from StackFactory(rabbit, postgres, test_var / "logs", env=fake_twilio.env).serving()


def client_token(stack, operator, unit_code) -> Api:
    made = operator.post(f"/api/v1/units/{unit_code}/clients")
    assert made.status_code == 201, made.text
    api = Api(stack.gateway_url)
    token = api.post("/api/v1/auth/token", json={"client_id": made.json()["client_id"],
                                                 "client_secret": made.json()["client_secret"]})
    assert token.status_code == 200, token.text
    api.http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return api


def operation_matcher(document):
    """Method + concrete path → ``"METHOD /template"`` of the document."""
    patterns = [(method.upper(), re.compile("^" + re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(path)) + "$"),
                 f"{method.upper()} {path}")
                for path, operations in document["paths"].items() for method in operations]
    # literal segments first (/units/merge before /units/{code})
    patterns.sort(key=lambda p: p[2].count("{"))

    def match(method, path):
        return next((name for m, rx, name in patterns if m == method and rx.match(path)), None)
    return match


def failures(output) -> set:
    """(operation, check code) of every failure schemathesis reports, e.g. ("POST /api/v1/units", "ST202")."""
    found, operation = set(), None
    for line in output.splitlines():
        if heading := re.fullmatch(r"_+ ([A-Z]+ /\S*) _+", line.strip()):
            operation = heading.group(1)
        elif (check := re.match(r"- (ST\d+) ", line)) and operation:
            found.add((operation, check.group(1)))
    return found


def fuzz(base_url, token, workdir: Path, name, include=(), exclude=()):
    """One schemathesis run; its findings (text) and the (operation, status) of every answer."""
    workdir = workdir / name  # its own: runs go side by side (config, hypothesis database, report)
    workdir.mkdir(parents=True, exist_ok=True)
    har = workdir / f"{name}.har"
    config = workdir / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
               f"{base_url}/api/v1/openapi.json",
               "--checks", "all", "--mode", "all", "--phases", "examples,coverage,fuzzing",
               "--max-examples", str(EXAMPLES), "--seed", "20261201", "--no-shrink", "--workers", "2",
               "--request-timeout", "30", "--suppress-health-check", "all", "--report", "har",
               "--report-har-path", str(har), "--output-truncate", "false", "--warnings", "off",
               # texts with NUL or unpaired surrogates are refused (400) before any schema, as the
               # document's description says (tests/test_no_5xx.py holds it): not generated as valid
               "--generation-allow-x00", "false", "--generation-codec", "utf-8"]
    if token:
        command += ["--header", f"Authorization: Bearer {token}"]
    for operation in include:
        command += ["--include-name", operation]
    for operation in exclude:
        command += ["--exclude-name", operation]
    # schemathesis_hooks.py: two corrections of the tool itself (see there), loaded by every run
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
           "PYTHONPATH": os.pathsep.join(filter(None, (str(HERE), os.environ.get("PYTHONPATH"))))}
    done = subprocess.run(command, capture_output=True, text=True, timeout=500, cwd=workdir, env=env)
    (workdir / f"{name}.txt").write_text(done.stdout + done.stderr)
    answers = []
    if har.exists():
        for entry in json.loads(har.read_text())["log"]["entries"]:
            answers.append((entry["request"]["method"], entry["request"]["url"], entry["response"]["status"]))
    return done, answers


def bearer(api) -> str:
    return api.http.headers["Authorization"].split(" ", 1)[1]


@pytest.fixture(scope="module")
def identities(stack):
    """name → (roles, the token of its main run, a factory of throwaway tokens of the same kind)."""
    operator = operator_login(stack)
    code = f"SC{uuid.uuid4().hex[:6].upper()}"
    active_unit(operator, code)
    clerk = person(stack, operator, code, "clerk")

    def fresh(role):
        # a new account each time: the fuzzer finds its own user id in its token (the JWT's `sub`) and may
        # reset that account's password, replace its key or disable it, as the role may
        return lambda: bearer(person(stack, operator, code, role).api)

    return {"anonymous": (set(), None, None),
            "system": ({"system"}, bearer(client_token(stack, operator, code)),
                       lambda: bearer(client_token(stack, operator, code))),
            "clerk": ({"clerk"}, bearer(clerk.api), fresh("clerk")),
            # last: its main run may act on the others' unit and accounts
            "operator": ({"operator"}, bearer(operator), fresh("operator"))}


def test_the_document_holds_for_every_identity_and_each_reaches_what_it_may(stack, identities, tmp_path):
    document = requests.get(f"{stack.gateway_url}/api/v1/openapi.json", timeout=30).json()
    match = operation_matcher(document)
    operations = {f"{m.upper()} {p}": op for p, ops in document["paths"].items() for m, op in ops.items()}

    def may(roles, operation):
        declared = operations[operation]
        return "security" not in declared or bool(roles) and (
            declared["x-roles"] == "any" or bool(roles & set(declared["x-roles"])))

    # Runs that cannot touch each other's identity go side by side (most of a run is the tool's own
    # CPU and its wait for answers): the main runs of all but the operator, then the operator's (it may
    # act on the others' unit and accounts), then every throwaway identity's self-ending run.
    def main_run(name):
        token = identities[name][1]
        return name, fuzz(stack.gateway_url, token, tmp_path, name, exclude=SELF_ENDING if token else ())

    runs = {}
    with ThreadPoolExecutor(max_workers=3) as pool:
        for name, run in pool.map(main_run, [n for n in identities if n != "operator"]):
            runs[name] = [run]
        runs["operator"] = [main_run("operator")[1]]
        self_ending = []
        for name, (roles, _, throwaway) in identities.items():
            for operation in SELF_ENDING:
                if throwaway and may(roles, operation):
                    label = f"{name}-{re.sub(r'[^a-z]+', '-', operation.lower())}"
                    # the throwaway account is made in the worker too: argon2 and logins are most of it
                    self_ending.append((name, pool.submit(
                        lambda make, label, operation: fuzz(stack.gateway_url, make(), tmp_path, label,
                                                            include=(operation,)), throwaway, label, operation)))
        for name, future in self_ending:
            runs[name].append(future.result())

    findings, lacking, counts = [], {}, {}
    for name, (roles, _, _) in identities.items():
        reached = set()
        for done, answers in runs[name]:
            found = failures(done.stdout)
            if done.returncode != 0 and not (found and found <= set(KNOWN_FINDINGS)):
                findings.append(f"--- as {name} (exit {done.returncode}): {sorted(found - set(KNOWN_FINDINGS))} ---\n"
                                f"{done.stdout[-20000:]}\n{done.stderr[-3000:]}")
            if "Loaded specification" in done.stdout:  # each run reads the document first, as this identity
                reached.add("GET /api/v1/openapi.json")
            for method, url, status in answers:
                operation = match(method, "/" + url.split("/", 3)[3].split("?")[0])
                if operation and status not in (401, 403):
                    reached.add(operation)
        allowed = {op for op in operations if may(roles, op)} - REFUSED_BY_RULE.get(name, set()) - SIGNED_BY_TWILIO
        counts[name] = (len(reached & allowed), len(allowed))
        if missing := sorted(allowed - reached):
            lacking[name] = missing
    for name, (got, of) in counts.items():
        print(f"schemathesis as {name}: {got} of {of} allowed operations reached with an answer other than 401/403")
    assert not findings, "\n".join(findings)
    assert not lacking, f"allowed operations reached only with 401/403: {lacking}"
