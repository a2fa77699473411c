"""`gongwen login` with the U_Key in a PKCS#11 token (SoftHSM2, as a USB key would be) and in a
key file, against the real suite; the device key is generated inside the token and never leaves it."""
import json
import os
import subprocess
import sys
import uuid

import pytest
from cryptography.hazmat.primitives import serialization

from conftest import device_key, new_account, operator_login, public_pem, wait_until

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
PIN, PASSWORD = "246810", "Gw-Initial-2026!"


@pytest.fixture
def token(tmp_path, monkeypatch):
    """A fresh SoftHSM2 token in a folder of this test's own, with an EC P-256 key made inside it."""
    import pkcs11
    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    label = f"gw-{uuid.uuid4().hex[:6]}"
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", "13579135"],
                   check=True, capture_output=True)
    with pkcs11.lib(SOFTHSM).get_token(token_label=label).open(rw=True, user_pin=PIN) as session:
        curve = session.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True)
        public, _private = curve.generate_keypair(store=True, label="u-key")
        der = encode_ec_public_key(public)
    pem = serialization.load_der_public_key(der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return {"label": label, "public_pem": pem, "env": {"SOFTHSM2_CONF": str(conf)}}


def enrol(stack, public_key_pem):
    username = f"clerk-{uuid.uuid4().hex[:6]}"
    operator = operator_login(stack)
    unit = f"cli-{uuid.uuid4().hex[:6]}"
    assert operator.post("/api/v1/units", json={"code": unit, "name": "命令行单位", "kind": "department"}).ok
    assert operator.post(f"/api/v1/units/{unit}/approve").ok
    body = {"username": username, "name": "赵六", "unit_code": unit, "roles": ["clerk"], "mobile": "13700137000",
            "initial_password": PASSWORD, "device_public_key": public_key_pem}
    new_account(operator, body)
    return username


def gongwen(*args, env, home, stdin=None):
    return subprocess.run([sys.executable, "-m", "gongwen_cli", *args], capture_output=True, text=True, timeout=60,
                          input=stdin, env={**os.environ, **env, "GONGWEN_HOME": str(home)})


def test_login_through_the_cli_with_the_key_inside_a_pkcs11_token(stack, token, tmp_path):
    username = enrol(stack, token["public_pem"])
    logged = gongwen("login", "--username", username, "--pkcs11-module", SOFTHSM,
                     "--token-label", token["label"], "--key-label", "u-key", "--gateway", stack.gateway_url,
                     env={**token["env"], "GONGWEN_PASSWORD": PASSWORD, "GONGWEN_PIN": PIN}, home=tmp_path)
    assert logged.returncode == 0, logged.stderr
    assert "change your initial password" in logged.stdout
    who = gongwen("me", env=token["env"], home=tmp_path)
    assert who.returncode == 0 and json.loads(who.stdout)["username"] == username
    assert oct((tmp_path / "profiles.json").stat().st_mode & 0o777) == "0o600"

    wrong_pin = gongwen("login", "--username", username, "--pkcs11-module", SOFTHSM,
                        "--token-label", token["label"], "--gateway", stack.gateway_url,
                        env={**token["env"], "GONGWEN_PASSWORD": PASSWORD, "GONGWEN_PIN": "000000"}, home=tmp_path)
    assert wrong_pin.returncode == 2 and "Traceback" not in wrong_pin.stderr, wrong_pin.stderr
    assert len(wrong_pin.stderr.strip().splitlines()) == 1 and "token refused" in wrong_pin.stderr


def test_login_through_the_cli_with_a_key_file(stack, tmp_path):
    key = device_key()
    key_file = tmp_path / "u-key.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    username = enrol(stack, public_pem(key))
    args = ("login", "--username", username, "--key-file", str(key_file), "--gateway", stack.gateway_url)
    refused = gongwen(*args, env={"GONGWEN_PASSWORD": "Gw-Wrong-2026!"}, home=tmp_path)
    assert refused.returncode == 3 and json.loads(refused.stderr)["error"] == "INVALID_CREDENTIALS"
    assert gongwen(*args, "--password-stdin", env={}, home=tmp_path, stdin=PASSWORD).returncode == 0


def test_the_operator_runs_units_and_users_through_the_cli(stack, tmp_path):
    operator_login(stack)  # makes sure the stack's operator exists
    username, password, key = stack.operator
    key_file = tmp_path / "operator.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    assert gongwen("login", "--username", username, "--key-file", str(key_file),
                   "--gateway", stack.gateway_url, env={"GONGWEN_PASSWORD": password}, home=tmp_path).returncode == 0

    def run(*args):
        done = gongwen(*args, env={}, home=tmp_path)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    code = f"cli-{uuid.uuid4().hex[:6]}"
    assert run("units", "apply", "--code", code, "--name", "命令行局", "--kind", "department")["status"] == "applied"
    assert run("units", "approve", code)["status"] == "active"
    assert run("units", "rename", code, "--name", "命令行局（新）")["former_names"] == ["命令行局"]
    assert code in [u["code"] for u in run("units", "list", "--q", "命令行局")["items"]]
    pem = tmp_path / "clerk.pub.pem"
    pem.write_text(public_pem(device_key()))
    created = wait_until(lambda: (d := gongwen("users", "create", "--username", f"c-{code}", "--name", "钱七",
                                               "--unit", code, "--role", "clerk", "--mobile", "13600136000",
                                               "--public-key", str(pem),
                                               env={"GONGWEN_INITIAL_PASSWORD": PASSWORD},
                                               home=tmp_path)).returncode == 0 and d,
                         message="identity to know the unit")
    user = json.loads(created.stdout)
    assert (user["status"], user["roles"]) == ("active", ["clerk"])
    assert run("users", "disable", user["user_id"], "--reason", "调离")["status"] == "disabled"
    refused = gongwen("units", "approve", code, env={}, home=tmp_path)
    assert refused.returncode == 3 and json.loads(refused.stderr)["error"] == "UNIT_NOT_APPLIED"
