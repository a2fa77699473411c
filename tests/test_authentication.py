"""Logging in with password + U_Key over HTTP, tokens verified at the gateway, logout, and the
first operator made by ``gongwen admin bootstrap`` (real services, broker and PostgreSQL)."""
import base64
import json
import re
import subprocess
import sys
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from conftest import TEST_ENV, Api, Databases, StackFactory, challenge, device_key, login, public_pem, wait_until

PASSWORD = "Gw-operator-2026!"
RELOAD = 10  # REVOCATION_RELOAD_SECONDS of this module's gateway (30 by default)


@pytest.fixture(scope="module")
def stack(rabbit, postgres, test_var, fake_twilio):
    """Its own: its first operator is made by ``gongwen admin bootstrap``, which runs once per stack."""
    yield from StackFactory(rabbit, postgres, test_var / "logs", env=fake_twilio.env).serving(
        env={"REVOCATION_RELOAD_SECONDS": str(RELOAD)})


@pytest.fixture(scope="module")
def operator(stack, tmp_path_factory):
    """The first operator, made with the CLI exactly as an exchange centre would."""
    key = device_key()
    pem = tmp_path_factory.mktemp("operator") / "operator.pub.pem"
    pem.write_text(public_pem(key))
    username = f"op-{uuid.uuid4().hex[:6]}"
    command = [sys.executable, "-m", "gongwen_cli", "admin", "bootstrap", "--username", username,
               "--password-stdin", "--public-key", str(pem), "--amqp-uri", stack.amqp_uri]
    made = subprocess.run(command, capture_output=True, text=True, timeout=60, input=PASSWORD)
    assert made.returncode == 0, made.stderr
    again = subprocess.run(command, capture_output=True, text=True, timeout=60, input=PASSWORD)
    assert again.returncode == 3 and json.loads(again.stderr)["error"] == "ALREADY_BOOTSTRAPPED"
    stack.operator = (username, PASSWORD, key)  # the stack's operator for any later test
    return username, key


def test_login_with_password_and_u_key_gives_a_token_the_gateway_accepts(api, operator):
    username, key = operator
    reply = login(api, username, PASSWORD, key)
    assert reply.status_code == 200, reply.text
    token = reply.json()
    assert token["token_type"] == "Bearer" and token["must_change_password"] is False and token["expires_in"] > 0
    me = api.get("/api/v1/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.status_code == 200 and me.json()["username"] == username and "operator" in me.json()["roles"]

    jwks = api.get("/api/v1/auth/keys").json()
    kid = jwt.get_unverified_header(token["access_token"])["kid"]
    [published] = [k for k in jwks["keys"] if k["kid"] == kid]
    claims = jwt.decode(token["access_token"], jwt.PyJWK(published).key, algorithms=["ES256"])
    assert claims["username"] == username  # anyone can verify with the published key


def test_each_login_failure_has_its_code_and_an_unknown_user_looks_like_a_known_one(api, operator):
    username, key = operator
    issued = challenge(api, username)
    assert login(api, username, "wrong-Password-1!", key, issued).json()["error"] == "INVALID_CREDENTIALS"
    assert login(api, username, PASSWORD, key, issued).json()["error"] == "CHALLENGE_USED"  # replay
    assert login(api, username, PASSWORD, device_key()).json()["error"] == "DEVICE_SIGNATURE_INVALID"
    unknown = login(api, f"nobody-{uuid.uuid4().hex[:6]}", PASSWORD, device_key())
    assert (unknown.status_code, unknown.json()["error"]) == (401, "DEVICE_SIGNATURE_INVALID")
    expired = api.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD,
                                                    "challenge_id": str(uuid.uuid4()), "signature": "AA=="})
    assert (expired.status_code, expired.json()["error"]) == (401, "CHALLENGE_EXPIRED")
    assert login(api, username, PASSWORD, key).status_code == 200  # a failure or two does not lock


def test_tokens_that_are_missing_forged_or_logged_out_are_refused(api, operator):
    username, key = operator
    assert api.get("/api/v1/me").json()["error"] == "UNAUTHENTICATED"
    assert api.get("/api/v1/me", headers={"Authorization": "Bearer not.a.jwt"}).status_code == 401
    forged = jwt.encode({"sub": "x", "jti": "j", "iat": 0, "exp": 4102444800, "roles": ["operator"]},
                        device_key(), algorithm="ES256", headers={"kid": "ours?"})
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401

    bearer = {"Authorization": f"Bearer {login(api, username, PASSWORD, key).json()['access_token']}"}
    assert api.post("/api/v1/auth/logout", headers=bearer).status_code == 204
    refused = api.get("/api/v1/me", headers=bearer)
    assert (refused.status_code, refused.json()["error"]) == (401, "UNAUTHENTICATED")


def test_every_route_that_needs_a_token_refuses_a_call_without_one(api):
    spec = api.get("/api/v1/openapi.json").json()
    protected = [(method, path) for path, ops in spec["paths"].items() for method, op in ops.items()
                 if op.get("security")]
    assert ("post", "/api/v1/auth/logout") in protected and ("get", "/api/v1/me") in protected
    for method, path in protected:
        reply = api.http.request(method.upper(), api.base_url + re.sub(r"{[a-z_]+}", "1", path), timeout=30)
        assert (reply.status_code, reply.json()["error"]) == (401, "UNAUTHENTICATED"), (method, path)


def test_login_attempts_from_one_address_are_rate_limited_before_any_account_is_touched(make_stack):
    """A gateway whose auth limit is 6 a minute with bursts of 3: the fourth quick attempt from the
    same address is 429 ``RATE_LIMITED`` with ``Retry-After``; the refusal is logged as a security event."""
    stack = make_stack(env={"AUTH_RATE_PER_MINUTE": "6", "AUTH_RATE_BURST": "3"})
    api = Api(stack.gateway_url)
    answers = [api.post("/api/v1/auth/challenge", json={"username": "anyone"}) for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    limited = answers[3]
    assert (limited.status_code, limited.json()["error"]) == (429, "RATE_LIMITED")
    assert 1 <= int(limited.headers["Retry-After"]) <= 10
    assert api.post("/api/v1/auth/login", json={"username": "anyone", "password": "x", "challenge_id": "c",
                                                "signature": "s"}).status_code == 429  # the same group
    assert api.post("/api/v1/auth/challenge", json={"username": "someone-else"}).status_code == 200  # per account
    assert api.get("/api/v1/health").status_code == 200  # other routes are not limited
    assert "RATE_LIMITED" in (stack.log_dir / "gateway-0.log").read_text()


def identity_signing_key(stack):
    """identity's newest signing key, opened with the test stacks' KEK: to make tokens that are
    ours in every respect but the one under test."""
    kid, ciphertext, nonce = Databases(stack).rows(
        "identity", "SELECT kid, private_key_ciphertext, private_key_nonce FROM signing_keys "
        "WHERE status = 'active' ORDER BY created_at DESC")[0]
    plain = AESGCM(base64.b64decode(TEST_ENV["IDENTITY_KEK"])).decrypt(bytes(nonce), bytes(ciphertext), kid.encode())
    return kid, serialization.load_der_private_key(plain, password=None)


def test_an_expired_token_and_a_known_kid_signed_by_another_key_are_refused(api, stack, operator):
    """Issue 9 item 19: the gateway checks expiry and the signature, not only the key id."""
    username, key = operator
    token = login(api, username, PASSWORD, key).json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    kid, signing_key = identity_signing_key(stack)
    now = int(time.time())
    expired = jwt.encode({**claims, "jti": uuid.uuid4().hex, "iat": now - 1000, "exp": now - 60}, signing_key,
                         algorithm="ES256", headers={"kid": kid})
    wrong_key = jwt.encode({**claims, "jti": uuid.uuid4().hex}, device_key(), algorithm="ES256", headers={"kid": kid})
    still_good = jwt.encode({**claims, "jti": uuid.uuid4().hex}, signing_key, algorithm="ES256", headers={"kid": kid})
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {still_good}"}).status_code == 200  # the key fits
    for forged in (expired, wrong_key):
        refused = api.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"})
        assert (refused.status_code, refused.json()["error"]) == (401, "UNAUTHENTICATED")


def test_a_revocation_the_gateway_never_heard_of_is_honoured_within_the_reload_bound(api, stack, operator):
    """Issue 9 item 4: ``token_revoked`` travels on a non-durable broadcast queue, so a
    reconnecting gateway can miss it. Here the event is never sent at all (the revocation is
    written to identity's table directly); the gateway still refuses the token once it reloads
    the revocations, within twice REVOCATION_RELOAD_SECONDS (30 by default, ``RELOAD`` here) and
    well before the token's 15 minutes are up."""
    username, key = operator
    token = login(api, username, PASSWORD, key).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/me", headers=bearer).status_code == 200
    claims = jwt.decode(token, options={"verify_signature": False})
    with Databases(stack).engines["identity"].begin() as conn:
        conn.exec_driver_sql("INSERT INTO revoked_tokens (jti, expires_at, revoked_at, reason) "
                             "VALUES (%s, to_timestamp(%s), now(), 'test: no event')", (claims["jti"], claims["exp"]))
    started = time.monotonic()
    wait_until(lambda: api.get("/api/v1/me", headers=bearer).status_code == 401, timeout=3 * RELOAD, interval=1,
               message="the gateway to reload the revocations")
    assert time.monotonic() - started < 2 * RELOAD + 5  # within the bound (twice the interval), not the token's life
