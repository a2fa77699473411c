"""The conventions people expect of ``gongwen``, without a server: ``--version``, ``-h`` on every
command, allowed values in the help, several values after one option, a wrong key file said in one
sentence (exit 2), errors as JSON with a next step and distinct exit codes, and no password on the
command line."""
import json
import os
import subprocess
import sys

import pytest
import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from typer.testing import CliRunner

from gongwen_cli import directory
from gongwen_cli.common import REFUSED, UNREACHABLE, USAGE, expand_multiple
from gongwen_cli.main import app

runner = CliRunner()
WIDE = {"COLUMNS": "300"}  # rich wraps help at the terminal's width; a value cut in two is not findable


def gongwen(home, *args, env=None, stdin=subprocess.DEVNULL):
    return subprocess.run([sys.executable, "-m", "gongwen_cli", *args], capture_output=True, text=True, timeout=60,
                          stdin=stdin, env={**os.environ, "GONGWEN_HOME": str(home), **(env or {})})


def commands(group, path=()):
    """Every command path under ``group``: ("units", "apply"), ("send",), …"""
    for name, command in group.commands.items():
        yield (*path, name)
        if hasattr(command, "commands"):  # a group (typer has its own click classes)
            yield from commands(command, (*path, name))


def test_gongwen_version_prints_the_installed_version(tmp_path):
    done = gongwen(tmp_path, "--version")
    assert done.returncode == 0 and done.stdout.strip() == "gongwen 0.1.0", done.stderr


def test_every_command_answers_dash_h_with_its_usage(tmp_path):
    top = gongwen(tmp_path, "-h")
    assert top.returncode == 0 and "Usage: gongwen" in top.stdout and "Traceback" not in top.stderr
    paths = list(commands(typer.main.get_command(app)))
    expected = {("password",), ("seals", "apply"), ("seals", "approve"), ("seals", "show"), ("seals", "revoke"),
                ("seals", "approve-use"), ("seal",), ("receipts",), ("outbox",), ("approvals",), ("login",),
                ("send",), ("inbox",), ("fetch",), ("sign",), ("register",), ("return",), ("verify",),
                ("units", "approve"), ("users", "create"), ("admin", "bootstrap")}
    assert expected <= set(paths), expected - set(paths)
    for path in paths:
        result = runner.invoke(app, [*path, "-h"], env=WIDE, prog_name="gongwen")
        assert result.exit_code == 0, (path, result.output)
        assert f"Usage: gongwen {' '.join(path)}" in " ".join(result.output.split()), path


def test_the_allowed_kinds_and_roles_are_in_the_help_and_are_those_the_api_accepts():
    from gongwen_gateway.openapi import build_spec
    from gongwen_gateway.service import GatewayService  # noqa: F401  (declares the routes)

    schemas = build_spec()["components"]["schemas"]
    assert list(directory.UNIT_KINDS) == schemas["UnitApplication"]["properties"]["kind"]["enum"]
    assert list(directory.ROLES) == schemas["NewUser"]["properties"]["roles"]["items"]["enum"]
    units_help = runner.invoke(app, ["units", "apply", "-h"], env=WIDE).output
    users_help = runner.invoke(app, ["users", "create", "-h"], env=WIDE).output
    assert all(kind in units_help for kind in directory.UNIT_KINDS), units_help
    assert all(role in users_help for role in directory.ROLES), users_help


def test_several_values_follow_one_option_or_repeat_it():
    assert expand_multiple(["send", "--main", "a", "b", "--cc", "c", "d", "--body", "x.pdf"]) == [
        "send", "--main", "a", "--main", "b", "--cc", "c", "--cc", "d", "--body", "x.pdf"]
    assert expand_multiple(["send", "--main", "a", "--main", "b"]) == ["send", "--main", "a", "--main", "b"]
    # an option of one value, the end of options, and --main=A are left as they are
    assert expand_multiple(["register", "id", "--number", "n1", "n2"]) == ["register", "id", "--number", "n1", "n2"]
    assert expand_multiple(["send", "--main", "a", "--", "b"]) == ["send", "--main", "a", "--", "b"]
    assert expand_multiple(["send", "--main=a", "b"]) == ["send", "--main=a", "b"]


def test_several_values_after_one_option_reach_the_command(tmp_path):
    """``users create --role clerk custodian`` is two roles (it then stops at the missing login)."""
    pem = tmp_path / "k.pub.pem"
    pem.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    done = gongwen(tmp_path, "users", "create", "--username", "u", "--name", "N", "--unit", "x", "--role", "clerk",
                   "custodian", "--public-key", str(pem), env={"GONGWEN_INITIAL_PASSWORD": "Gw-Initial-2026!"})
    assert done.returncode == REFUSED and json.loads(done.stderr)["error"] == "UNAUTHENTICATED", done.stderr
    wrong = gongwen(tmp_path, "users", "create", "--username", "u", "--name", "N", "--unit", "x", "--role", "clerk",
                    "chief", "--public-key", str(pem))
    assert wrong.returncode == USAGE and "chief" in wrong.stderr


def _key_files(folder):
    key = ec.generate_private_key(ec.SECP256R1())
    files = {
        "public key": key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo),
        "encrypted private key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.BestAvailableEncryption(b"secret")),
        "not a PEM": b"hello\n",
        "RSA key": rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    }
    for name, data in files.items():
        (folder / name.replace(" ", "-")).write_bytes(data)
    return {name: folder / name.replace(" ", "-") for name in files}


@pytest.mark.parametrize("kind", ["public key", "encrypted private key", "not a PEM", "RSA key"])
def test_a_wrong_key_file_exits_2_with_one_sentence_and_no_traceback(tmp_path, kind):
    key_file = _key_files(tmp_path)[kind]
    done = gongwen(tmp_path, "login", "--username", "u", "--key-file", str(key_file),
                   env={"GONGWEN_PASSWORD": "Gw-Initial-2026!", "GONGWEN_GATEWAY": "http://127.0.0.1:9"})
    assert done.returncode == USAGE, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert str(key_file) in done.stderr and done.stderr.strip().endswith("."), done.stderr


def test_an_unreachable_gateway_exits_4_with_the_error_and_a_next_step_as_json(tmp_path):
    key = tmp_path / "u.pem"
    key.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    done = gongwen(tmp_path, "login", "--username", "u", "--key-file", str(key), "--gateway", "http://127.0.0.1:9",
                   env={"GONGWEN_PASSWORD": "Gw-Initial-2026!"})
    assert done.returncode == UNREACHABLE and done.stdout == "", done.stderr
    error = json.loads(done.stderr)
    assert error["error"] == "UNREACHABLE" and "make run" in error["next"]


def test_a_command_before_login_is_refused_with_the_login_step(tmp_path):
    done = gongwen(tmp_path, "receipts", "some-id")
    assert done.returncode == REFUSED and done.stdout == ""
    error = json.loads(done.stderr)
    assert error["error"] == "UNAUTHENTICATED" and "gongwen login" in error["next"]


def test_no_command_takes_a_password_or_pin_as_an_argument():
    """Passwords are asked, or read from the environment or stdin: never argv (shell history, ps)."""
    for path in commands(typer.main.get_command(app)):
        command = typer.main.get_command(app)
        for name in path:
            command = command.commands[name]
        for param in command.params:
            secret = any(word in name for name in param.opts for word in ("password", "pin", "secret"))
            assert not secret or getattr(param, "is_flag", False), (path, param.opts)


def test_without_a_terminal_a_missing_password_says_where_to_give_it(tmp_path):
    key = _key_files(tmp_path)["public key"].with_name("ok.pem")
    key.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    done = gongwen(tmp_path, "login", "--username", "u", "--key-file", str(key), env={"GONGWEN_PASSWORD": ""})
    assert done.returncode == USAGE and "GONGWEN_PASSWORD" in done.stderr and "--password-stdin" in done.stderr
    empty = gongwen(tmp_path, "login", "--username", "u", "--key-file", str(key), "--password-stdin")
    assert empty.returncode == USAGE and "stdin" in empty.stderr, empty.stderr


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_unknown_unit_right_after_approval_is_retried_until_the_directory_catches_up():
    """Right after ``units approve`` another service answers UNKNOWN_UNIT until the registry's event
    reaches it: the command waits (a few retries) instead of failing the user."""
    from gongwen_cli.common import catching_up
    from gongwen_cli.gateway import GatewayError

    clock, answers = Clock(), iter(["UNKNOWN_UNIT", "UNKNOWN_UNIT", None])

    def attempt():
        if (code := next(answers)) is not None:
            raise GatewayError(422, {"error": code, "message": "unknown unit u-1"})
        return {"user_id": "u"}

    assert catching_up(attempt, 10, clock, clock.sleep) == {"user_id": "u"} and clock.now == 1.0


def test_a_unit_still_unknown_after_the_wait_is_said_with_the_wait_and_other_refusals_are_not_retried():
    from gongwen_cli.common import NEXT_STEPS, catching_up
    from gongwen_cli.gateway import GatewayError

    clock, calls = Clock(), []

    def unknown():
        calls.append(clock.now)
        raise GatewayError(422, {"error": "UNKNOWN_UNIT", "message": "unknown unit nope"})

    with pytest.raises(GatewayError) as still:
        catching_up(unknown, 10, clock, clock.sleep)
    assert "waiting 10 s" in still.value.body["message"] and calls[-1] == 10.0
    assert "approved moments ago" in NEXT_STEPS["UNKNOWN_UNIT"]

    def forbidden():
        calls.append("forbidden")
        raise GatewayError(403, {"error": "FORBIDDEN", "message": "no"})

    calls.clear()
    with pytest.raises(GatewayError):
        catching_up(forbidden, 10, clock, clock.sleep)
    assert calls == ["forbidden"]
