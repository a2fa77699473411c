"""The OpenAPI document is generated from the gateway's routes and schemas (no services)."""
import inspect
import re
from pathlib import Path

from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from gongwen_gateway.http import ROUTES, ApiEntrypoint
from gongwen_gateway.openapi import README_BEGIN, README_END, build_spec, readme_table
from gongwen_gateway.service import GatewayService

README = Path(__file__).resolve().parents[2] / "README.md"


def operations(spec):
    return {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}


def test_every_documented_route_is_in_the_document_with_error_responses():
    spec = build_spec()
    for method, url in ROUTES:
        path = url.replace("<int:", "{").replace("<", "{").replace(">", "}")
        operation = spec["paths"][path][method.lower()]
        assert "500" in operation["responses"]
    create = spec["paths"]["/api/v1/units"]["post"]
    assert create["responses"]["201"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Unit"}
    assert {"400", "409", "413", "422"} <= set(create["responses"])
    assert "/<path:path>" not in spec["paths"] and "/{path}" not in spec["paths"]


def test_the_idempotency_key_is_documented_exactly_on_the_routes_that_take_it():
    """The route's function receives the key only when declared ``idempotent=True``, and the
    document lists the header from the same declaration: never on a route that ignores it."""
    spec = build_spec()
    taking = set()
    for _, member in inspect.getmembers(GatewayService):
        for entrypoint in getattr(member, ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if isinstance(entrypoint, ApiEntrypoint) and "idempotency_key" in inspect.signature(member).parameters:
                taking.add((entrypoint.method, re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", entrypoint.url)))
    documented = {(method.upper(), path) for path, ops in spec["paths"].items() for method, op in ops.items()
                  if any(p["in"] == "header" and p["name"] == "Idempotency-Key" for p in op["parameters"])}
    assert documented == taking
    assert {("POST", "/api/v1/documents"), ("POST", "/api/v1/documents/{document_id}/print")} <= documented
    assert not {("POST", "/api/v1/units/{code}/rename"),
                ("POST", "/api/v1/documents/{document_id}/register")} & documented


def test_the_readme_endpoint_table_lists_exactly_the_operations_of_the_openapi_document():
    """Regenerate with ``python -m gongwen_gateway.openapi --update-readme README.md``."""
    spec = build_spec()
    readme = README.read_text(encoding="utf-8")
    table = readme.split(README_BEGIN, 1)[1].split(README_END, 1)[0].strip()
    listed = set(re.findall(r"^\| ([A-Z]+) \| `([^`]+)` \|", table, re.M))
    assert listed == operations(spec), (
        f"missing: {sorted(operations(spec) - listed)}, not served: {sorted(listed - operations(spec))}")
    assert table == readme_table(spec)


def test_the_documented_password_pattern_is_identitys_composition_rule():
    """The document states the policy identity applies (PASSWORD_TOO_WEAK, 400): a schema-valid password
    is refused only for what no pattern can say (a common password, the username inside)."""
    from gongwen_contracts.identity.schemas import PASSWORD_POLICY
    from gongwen_identity.domain.passwords import PasswordPolicy

    spec = build_spec()["components"]["schemas"]
    documented = [spec[name]["properties"][field] for name, field in (
        ("NewUser", "initial_password"), ("ResetPassword", "initial_password"), ("PasswordChange", "new_password"))]
    assert all(p["pattern"] == PASSWORD_POLICY["pattern"] and (p["minLength"], p["maxLength"]) == (8, 128)
               for p in documented)
    policy, pattern = PasswordPolicy(), re.compile(PASSWORD_POLICY["pattern"])
    for password in ("Zx9!qwertyu", "密码密码1!ab", "_a1bbbbbb", "a b1!cdef", "1!aaaaaa", "abc12345", "abc!defg",
                     "12345!!!!", "abcdefgh", "a1!", "Ω9ω…ΔΨφλ", "x" * 126 + "1!", "x" * 127 + "1!"):
        schema_valid = 8 <= len(password) <= 128 and bool(pattern.search(password))
        assert schema_valid == (policy.problem(password) is None), password


def test_every_request_header_the_gateway_reads_is_documented():
    """Integrators learn from the document which headers count: each one the gateway's code reads is a
    header parameter of some operation (``Authorization`` is the security scheme)."""
    package = Path(inspect.getfile(ApiEntrypoint)).parent
    read = {name for source in package.rglob("*.py")
            for name in re.findall(r"""headers\.get\(\s*["']([A-Za-z0-9-]+)["']""", source.read_text(encoding="utf-8"))}
    spec = build_spec()
    documented = {p["name"] for ops in spec["paths"].values() for op in ops.values()
                  for p in op["parameters"] if p["in"] == "header"}
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert read - {"Authorization"} <= documented, read - documented
    assert {"X-Request-Id", "Idempotency-Key", "X-Forwarded-For"} <= read


def test_the_document_says_a_leader_or_a_clerk_needs_a_mobile_as_identity_does():
    """identity refuses a leader or a clerk without a mobile (400, naming ``mobile``): the document's
    NewUser schema says so, so a request it calls valid is not refused for it."""
    import jsonschema_rs

    valid = jsonschema_rs.Draft4Validator(build_spec()["components"]["schemas"]["NewUser"])
    base = {"username": "zhang.san", "name": "张三", "unit_code": "gz-fgw", "initial_password": "Zx9!qwertyu",
            "device_public_key": "PEM"}
    assert not valid.is_valid({**base, "roles": ["clerk"]})
    assert not valid.is_valid({**base, "roles": ["staff", "leader"], "mobile": ""})
    assert valid.is_valid({**base, "roles": ["clerk"], "mobile": "13800138000"})
    assert valid.is_valid({**base, "roles": ["admin", "staff"]})


def test_each_multipart_part_is_typed_as_the_route_reads_it():
    """A file part is bytes (``format: binary``, octet-stream), a text part UTF-8 text, a JSON part (the
    metadata of a document, the manifest to seal) an object sent as JSON: generated requests are what
    the route accepts."""
    spec = build_spec()
    forms = {path: op["requestBody"]["content"]["multipart/form-data"] for path, ops in spec["paths"].items()
             for op in ops.values() if "multipart/form-data" in op.get("requestBody", {}).get("content", {})}
    assert set(forms) >= {"/api/v1/documents", "/api/v1/seals/sign", "/api/v1/seals/verify"}
    for path, form in forms.items():
        for name, part in form["schema"]["properties"].items():
            media = form["encoding"][name]["contentType"]
            item = part.get("items", part)
            if item.get("format") == "binary":
                assert media == "application/octet-stream", (path, name)
            elif media == "application/json":
                assert item.get("type") == "object" or "$ref" in item, (path, name)
            else:
                assert (item["type"], media) == ("string", "text/plain"), (path, name)
    sign = forms["/api/v1/seals/sign"]
    assert (sign["schema"]["properties"]["manifest"]["type"], sign["encoding"]["manifest"]["contentType"]) == \
        ("object", "application/json")
