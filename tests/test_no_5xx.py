"""No input answers 5xx: every operation of the served OpenAPI document, as the operator and as a
clerk, gets nested, huge, truncated and wrongly typed JSON bodies, broken multipart parts, and
path and query values no resource has; every answer is below 500, and every error is the JSON
body ``{"error", "message", "request_id", "fields"?}`` with ``fields`` an object (real services,
broker and PostgreSQL).

"Must be 4xx" cases can never be a valid request (too deep, too large, cut off, a part of the
wrong kind, a value of the wrong type); the others (a 10⁵-character text, unicode edge cases,
null) may be accepted, but never with a 5xx.
"""
import base64
import json
import re
import time
from urllib.parse import quote

import pytest

from conftest import Api, StackFactory
from tests.test_attacker_matrix import TABLE, World

MAX_UPLOAD = 2 * 2**20  # this module's stack: uploads over 2 MiB are 413 (so "huge" stays cheap)
MAX_BODY = 2**20  # the gateway's default for JSON bodies

WRONG = {"array": [], "number": 7, "object": {}, "bool": True, "big number": 10**30, "null": None,
         "long text": "x" * 100_000, "NUL": "a\x00b", "lone surrogate": "\ud800",
         "unicode edges": "\u202e\u0301𝕏🀄\ufeff\u200b", "negative": -1}


# Values of another JSON type that a schema takes on purpose: (method, path) → field names.
COERCED = {("put", "/api/v1/units/{code}/contacts"): {"admin_user_id", "leader_user_id"}}  # registry's UserId:
# "an integer id is taken as its string"


@pytest.fixture(scope="module")
def stack(rabbit, postgres, test_var):
    yield from StackFactory(rabbit, postgres, test_var / "logs").serving(env={"MAX_UPLOAD_BYTES": str(MAX_UPLOAD)})


@pytest.fixture(scope="module")
def world(stack):
    return World(stack)


def wrong_type(base, value):
    """A value no schema could take where ``base`` was valid (bool is not a number, nor null)."""
    if value is None or isinstance(base, bool) != isinstance(value, bool):
        return value is not None
    numbers = (int, float)
    return not (isinstance(base, numbers) and isinstance(value, numbers)) and type(base) is not type(value)


def json_cases(make, limit=MAX_BODY, coerced=frozenset()):
    """(label, raw bytes, must be 4xx); ``make()`` gives a valid body, afresh for each case (a login
    challenge is used once)."""
    base = make()
    text = json.dumps(base)
    yield "deep arrays", b"[" * 100_000, True
    yield "deep objects", ('{"a":' * 100 + "1" + "}" * 100).encode(), True
    yield "huge", json.dumps({**base, "pad": "x" * (limit + 10)}).encode(), True
    yield "truncated", text[: len(text) // 2].encode(), True
    yield "empty", b"", True
    yield "NaN", b'{"a": NaN}', True
    yield "not UTF-8", b'{"a": "\xff\xfe"}', True
    for label, value in (("array", [base]), ("number", 1), ("null", None), ("text", "x")):
        yield f"body is {label}", json.dumps(value).encode(), True
    for key, valid in base.items():
        yield f"without {key}", json.dumps({k: v for k, v in make().items() if k != key}).encode(), False
        for label, value in WRONG.items():
            strict = wrong_type(valid, value) and not (key in coerced and isinstance(value, int))
            yield f"{key} = {label}", json.dumps({**make(), key: value}).encode(), strict


def part(name, data, filename=None):
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    return f"--B\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"


def multipart(*parts):
    return b"".join(parts) + b"--B--\r\n"


def form_cases(valid: dict, declared: dict):
    """``valid``: requests-style parts {name: (filename or None, bytes)}; ``declared``: name → kind.
    Yields (label, raw multipart body with boundary B, must be 4xx)."""
    def body(**changed):
        parts = {**valid, **changed}
        return multipart(*(part(n, raw(d), f) for n, v in parts.items() if v is not None for f, d in [v]))

    def raw(value):
        return value if isinstance(value, bytes) else value.encode()

    yield "no parts", multipart(), True
    yield "only an unknown part", multipart(part("other", b"x")), True
    yield "truncated", body()[: len(body()) // 2], True
    yield "huge", body(**{next(iter(valid)): ("big", b"x" * (MAX_UPLOAD + 10))}), True
    for name, kind in declared.items():
        current = valid.get(name)
        if name in valid:
            yield f"without {name}", body(**{name: None}), True
        data = raw(current[1]) if current else b"x"
        if kind in ("file", "files"):
            yield f"{name} as a field", body(**{name: (None, data)}), True
            yield f"{name} empty", body(**{name: ("empty", b"")}), False
            yield f"{name} garbage", body(**{name: ("junk", b"\x00\xff" * 500)}), False
        else:
            yield f"{name} as a file", body(**{name: ("text.txt", data)}), False
            yield f"{name} not UTF-8", body(**{name: (None, b"\xff\xfe\xfd")}), True
            yield f"{name} with NUL", body(**{name: (None, b"a\x00b")}), True
            yield f"{name} long", body(**{name: (None, b"9" * 100_000)}), False
            yield f"{name} empty", body(**{name: (None, b"")}), False


def metadata_cases(base: dict):
    """The ``metadata`` part of POST /documents is JSON inside multipart: the JSON cases again."""
    for label, data, strict in json_cases(lambda: base, limit=MAX_UPLOAD):
        if label != "huge":
            yield f"metadata: {label}", multipart(part("metadata", data), part("body", b"body", "b.txt")), strict


def url_cases(path, values, parameters):
    """Path values no resource has and query values of every wrong kind: (label, url, query)."""
    for name in re.findall(r"{([a-z_]+)}", path):
        bad = ["99999999999999999999", "-1"] if isinstance(values[name], int) else \
            ["x" * 1000, quote("a\x00b"), quote("文件"), quote("../../etc"), quote("\ufffd")]
        for value in bad:
            url = re.sub(r"{([a-z_]+)}", lambda m, n=name, v=value: v if m.group(1) == n else str(values[m.group(1)]),
                         path)
            yield f"{name} = {value[:20]}", url, None
    for name in (p["name"] for p in parameters if p["in"] == "query"):
        for value in ("-1", "0", "abc", "99999999999999999999", "x" * 2000, "a\x00b", "2026-13-45", "\ud7ff文"):
            yield f"?{name}={value[:20]}", None, {name: value}


def problem(reply, strict, label="") -> str | None:
    """What is wrong with the answer, if anything."""
    if reply.status_code >= 500:
        return "a 5xx"
    if label == "huge" and (reply.status_code, reply.json().get("error")) != (413, "PAYLOAD_TOO_LARGE"):
        return "a body over the limit that is not 413 PAYLOAD_TOO_LARGE"
    if strict and not 400 <= reply.status_code < 500:
        return "accepted input that can never be valid"
    if reply.status_code >= 400:
        try:
            body = reply.json()
        except ValueError:
            return "an error without a JSON body"
        if not ({"error", "message", "request_id"} <= set(body) and body["request_id"]):
            return "an error body without error, message and request_id"
        if "fields" in body and not isinstance(body["fields"], dict):
            return "fields that are not an object"
        if "Traceback" in reply.text:
            return "a traceback"
    return None


@pytest.fixture(scope="module")
def operations(stack):
    spec = Api(stack.gateway_url).get("/api/v1/openapi.json").json()
    return [(method, path, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


@pytest.mark.parametrize("who", ["operator", "clerk"])
def test_no_input_to_any_operation_answers_5xx(world, operations, who):
    api = world.operator if who == "operator" else world.clerk
    slowest, found = (0.0, None), []
    for method, path, operation in operations:
        row = TABLE[(method, path)]
        values = world.path_values(row)
        url = re.sub(r"{([a-z_]+)}", lambda m, v=values: str(v[m.group(1)]), path)
        content = operation.get("requestBody", {}).get("content", {})
        started = time.monotonic()

        def send(label, strict, target=url, method=method, path=path, **request):
            reply = api.http.request(method.upper(), api.base_url + target, timeout=60, **request)
            if wrong := problem(reply, strict, label):
                found.append(f"{method.upper()} {path} [{label}]: {wrong}: {reply.status_code} {reply.text[:150]}")

        if "application/json" in content:
            cases = json_cases(lambda r=row: r.body(world), coerced=COERCED.get((method, path), frozenset()))
            for label, data, strict in cases:
                if row.fresh and not strict:
                    continue  # a variant that may be valid would end the caller's session
                send(label, strict, data=data, headers={"Content-Type": "application/json"})
        elif "multipart/form-data" in content:
            declared = {n: "files" if s.get("type") == "array" else "file" if s.get("format") == "binary"
                        else "string" for n, s in content["multipart/form-data"]["schema"]["properties"].items()}
            valid = {n: v if isinstance(v, tuple) else (None, v) for n, v in row.files(world).items()}
            cases = list(form_cases(valid, declared))
            if "metadata" in declared:
                cases += list(metadata_cases(json.loads(valid["metadata"][1])))
            for label, data, strict in cases:
                send(label, strict, data=data, headers={"Content-Type": "multipart/form-data; boundary=B"})
            send("JSON instead of multipart", True, json={"manifest": "x"})
            send("multipart without a boundary", True, data=multipart(),
                 headers={"Content-Type": "multipart/form-data"})
        elif row.data:  # a raw upload (the seal image)
            for label, data in (("empty", b""), ("garbage", b"\x00\xff" * 100), ("JSON", b"{}"),
                                ("huge", b"x" * (MAX_BODY + 10))):
                send(label, label == "huge", data=data, headers={"Content-Type": "image/png"})
        if any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", [])) and not row.fresh:
            for label, key in (("long", "k" * 300), ("not ASCII", "键".encode()), ("with a space", "a b")):
                send(f"Idempotency-Key {label}", True, json=row.body(world) if row.body else None,
                     headers={"Idempotency-Key": key})
        if not row.fresh:
            for label, target, query in url_cases(path, values, operation.get("parameters", [])):
                extra = {"json": row.body(world)} if row.body else {}
                send(label, False, target=target or url, params=query, **extra)
        took = time.monotonic() - started
        slowest = max(slowest, (took, f"{method.upper()} {path}"))
    assert not found, f"{len(found)} bad answers as {who}:\n" + "\n".join(found)
    assert slowest[0] < 5, f"keep each operation's cases bounded: {slowest}"


def test_no_authorization_header_answers_5xx(stack):
    """Forged or broken bearer tokens on a closed route: every one a JSON 401, none a 5xx."""
    def b64(value):
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    claims = b64({"sub": "x", "exp": 4102444800, "iat": 0, "jti": "j", "roles": ["operator"]})
    forged = [f"{b64(header)}.{claims}.{b64(b'sig')}" for header in (
        {"alg": "none"}, {"alg": "ES256", "kid": ["x"]}, {"alg": "HS256", "kid": "k"}, {"alg": "ES256"}, [1], "x")]
    headers = ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a.b.c", "Bearer " + "x" * 6000,
               "Bearer \x7f\x00".encode("latin-1"), "Bearer é".encode("latin-1"), "Bearer ....", "bearer  a.b",
               *(f"Bearer {token}" for token in forged), f"Bearer {forged[0]}." + "A" * 100]
    anonymous = Api(stack.gateway_url)
    for header in headers:
        try:
            reply = anonymous.get("/api/v1/me", headers={"Authorization": header})
        except ValueError:  # a header the HTTP client itself refuses to send
            continue
        assert reply.status_code == 401, (header[:40], reply.status_code, reply.text[:200])
        assert problem(reply, True) is None and reply.json()["error"] == "UNAUTHENTICATED", (header[:40], reply.text)
