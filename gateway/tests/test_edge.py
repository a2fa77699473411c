"""The gateway's edge without services: routes closed unless declared public, and bodies that
cannot be parsed (too deep, not UTF-8, parts of the wrong kind) refused as 400s with a stable code."""
import inspect
import json

import pytest
from nameko.exceptions import deserialize, serialize
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gongwen_common.errors import DomainError, NotFound, ValidationFailed
from gongwen_contracts.identity.schemas import ChallengeRequestSchema
from gongwen_gateway.auth import Principal
from gongwen_gateway.http import ROUTES, ApiEntrypoint, MalformedJson, error_body, form_parts, json_object
from gongwen_gateway.openapi import build_spec
from gongwen_gateway.service import GatewayService

# Every route a caller may use without a token. Adding one is a decision: add it here too.
PUBLIC_ROUTES = {
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/health/gateway"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/docs"),
    ("GET", "/api/v1/docs/static/<name>"),
    ("POST", "/api/v1/auth/challenge"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/token"),
    ("GET", "/api/v1/auth/keys"),
    ("GET", "/api/v1/seals/ca.pem"),
    ("POST", "/api/v1/twilio/messages/status"),  # no token: Twilio's signature instead, checked by the route
    ("POST", "/api/v1/twilio/calls/status"),
    ("GET", "/l/<link_code>"),  # an SMS's short link, followed from a phone: a 303, never the document itself
    ("*", "/<path:path>"),  # the JSON 404 for every unknown path, 405 with Allow for a known one
    ("*", "/"),
}


def gateway_entrypoints():
    """Every route of the service, its area classes' included (nameko collects them the same way)."""
    return [entrypoint for _, member in inspect.getmembers(GatewayService)
            for entrypoint in getattr(member, ENTRYPOINT_EXTENSIONS_ATTR, ())
            if isinstance(entrypoint, ApiEntrypoint)]


def test_the_public_routes_are_exactly_the_pinned_list():
    declared = {(e.method, e.url) for e in gateway_entrypoints() if e.public}
    assert declared == PUBLIC_ROUTES
    closed = [e for e in gateway_entrypoints() if not e.public]
    assert closed and all(e.roles for e in closed)


def test_a_route_declaring_neither_roles_nor_public_fails_when_declared():
    with pytest.raises(TypeError, match="closed by default"):
        ApiEntrypoint("GET", "/api/v1/forgotten")
    with pytest.raises(TypeError):
        ApiEntrypoint("GET", "/api/v1/confused", roles=("clerk",), public=True)
    assert ("GET", "/api/v1/forgotten") not in ROUTES


def test_the_openapi_document_asks_a_token_of_every_operation_but_the_public_ones():
    spec = build_spec()
    public = {(m, u.replace("<", "{").replace(">", "}")) for m, u in PUBLIC_ROUTES}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if (method.upper(), path) in public:
                assert "security" not in operation and "x-roles" not in operation, path
            else:
                assert operation["security"] == [{"bearerAuth": []}], (method, path)
                assert {"401", "403"} <= set(operation["responses"]), (method, path)


def request_with(data, content_type="application/json", form_kinds=None):
    request = Request(EnvironBuilder(method="POST", data=data, content_type=content_type).get_environ())
    request.form_kinds = form_kinds or {}
    return request


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a":' * 100_000, b"[" * 40 + b"]" * 40,
                                  b'{"username": NaN}', b'{"username": "x"', b"\xff\xfe{}"])
def test_a_body_too_deep_or_not_strict_json_is_malformed_json(body):
    with pytest.raises(MalformedJson):
        json_object(request_with(body))


@pytest.mark.parametrize("value", ["a\u0000b", "\ud800", {"x": "a\x00"}])
def test_texts_a_database_cannot_store_are_validation_errors_naming_the_field(value):
    with pytest.raises(ValidationFailed) as refused:
        json_object(request_with(json.dumps({"username": value}).encode()))
    assert "username" in refused.value.fields


def multipart(*parts):
    """``parts``: (name, filename or None, bytes)."""
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        body += f"--B\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return request_with(body + b"--B--\r\n", "multipart/form-data; boundary=B", {
        "manifest": "file", "signature": "file", "attachments": "files", "approval_ids": "string"})


def refused_fields(request, **kinds):
    with pytest.raises(ValidationFailed) as refused:
        form_parts(request, **kinds)
    return refused.value.fields


def test_a_file_part_sent_as_a_field_is_a_validation_error():
    """A part without a filename is decoded text: never a manifest's bytes (the 500 on /seals/sign)."""
    fields = refused_fields(multipart(("manifest", None, b'{"a": 1}')), required=("manifest",))
    assert fields == {"manifest": ["must be sent as a file (a part with a filename)"]}
    fields = refused_fields(multipart(("manifest", "m", b"{}"), ("attachments", None, b"x")),
                            required=("manifest",), many=("attachments",))
    assert list(fields) == ["attachments"]


def test_a_text_field_sent_as_a_file_is_its_utf8_text_or_a_validation_error():
    parts = form_parts(multipart(("manifest", "m", b"\x00\xff"), ("approval_ids", "ids.txt", "甲,乙".encode())),
                       required=("manifest",), optional=("approval_ids",))
    assert parts == {"manifest": b"\x00\xff", "approval_ids": "甲,乙"}
    for bad in (b"\xff\xfe", b"a\x00b"):
        fields = refused_fields(multipart(("manifest", "m", b"{}"), ("approval_ids", "ids.txt", bad)),
                                required=("manifest",), optional=("approval_ids",))
        assert list(fields) == ["approval_ids"]


def test_a_text_field_not_utf8_or_with_nul_is_a_validation_error():
    for bad in (b"\xff\xfeabc", b"a\x00b"):
        fields = refused_fields(multipart(("manifest", "m", b"{}"), ("approval_ids", None, bad)),
                                required=("manifest",), optional=("approval_ids",))
        assert list(fields) == ["approval_ids"]


def test_missing_or_empty_multipart_bodies_are_validation_errors():
    assert refused_fields(multipart(), required=("manifest",)) == {"manifest": ["required"]}
    no_boundary = request_with(b"--B--\r\n", "multipart/form-data")
    assert "_schema" in refused_fields(no_boundary, required=("manifest",))
    assert "_schema" in refused_fields(request_with(b"{}"), required=("manifest",))
    truncated = request_with(b'--B\r\nContent-Disposition: form-data; name="manifest"; filename="m"\r\n\r\n{',
                             "multipart/form-data; boundary=B")
    assert refused_fields(truncated, required=("manifest",)) == {"manifest": ["required"]}


def across_rpc(exc: DomainError) -> DomainError:
    """What the gateway gets back when a service raises ``exc`` (nameko's wire form)."""
    return deserialize(json.loads(json.dumps(serialize(exc.flatten()))))


def test_error_bodies_carry_fields_as_an_object_or_omit_them():
    for raised, fields in ((NotFound(message="no unit"), None),
                           (ValidationFailed({"code": ["required"]}), {"code": ["required"]}),
                           (DomainError("X", "m", 409, ["bad"]), {"_schema": ["bad"]})):
        got = across_rpc(raised)
        assert (got.code, got.status, got.fields) == (raised.code, raised.status, fields)
        body = error_body(got.code, got.message, "rid", got.fields)
        assert body.get("fields") == fields and ("fields" in body) == (fields is not None)
    old_wire = deserialize({"exc_path": "gongwen_common.errors.DomainError", "exc_args": ["X", "m", "404", "None"]})
    assert old_wire.fields is None and "fields" not in error_body("X", "m", "rid", "None")


def test_path_values_and_query_parameters_no_service_could_look_up_are_refused_at_the_edge():
    from werkzeug.datastructures import MultiDict

    from gongwen_gateway.http import checked_url_values

    checked_url_values({"document_id": "文-1", "letter_id": 7}, MultiDict({"unit": "甲"}))  # fine
    for values in ({"document_id": "a\x00b"}, {"letter_id": 2**31}, {"year": -1}):
        with pytest.raises(NotFound):
            checked_url_values(values, MultiDict())
    with pytest.raises(ValidationFailed) as refused:
        checked_url_values({}, MultiDict([("unit", "ok"), ("date", "2026\x00")]))
    assert refused.value.fields == {"date": ["must not contain a NUL character"]}


def test_an_idempotency_key_a_service_could_not_store_is_a_validation_error():
    from gongwen_gateway.http import checked_idempotency_key

    checked_idempotency_key({"Idempotency-Key": "2f1c-9a"})
    checked_idempotency_key({"Idempotency-Key": "k" * 128})  # the longest every service takes (exchange)
    checked_idempotency_key({})
    for key in ("k" * 129, "", "has space", "\u00e9\u0094\u00ae", "k\n"):
        with pytest.raises(ValidationFailed) as refused:
            checked_idempotency_key({"Idempotency-Key": key})
        assert list(refused.value.fields) == ["Idempotency-Key"]


def test_a_route_takes_a_body_and_an_idempotency_key_exactly_as_it_declares_them():
    """The declaration is what the entrypoint passes and what the OpenAPI document says: a route
    whose function disagrees with it fails when it is declared."""
    def without_body(self, request):
        pass

    def with_key(self, request, idempotency_key):
        pass

    def with_actor(self, request, actor):
        pass

    with pytest.raises(TypeError, match="takes `body`"):
        ApiEntrypoint.decorator("POST", "/api/v1/x", request_schema=ChallengeRequestSchema, roles=("clerk",),
                                document=False)(without_body)
    with pytest.raises(TypeError, match="takes `idempotency_key`"):
        ApiEntrypoint.decorator("POST", "/api/v1/x", roles=("clerk",), document=False)(with_key)
    with pytest.raises(TypeError, match="takes `idempotency_key`"):
        ApiEntrypoint.decorator("POST", "/api/v1/x", idempotent=True, roles=("clerk",), document=False)(without_body)
    with pytest.raises(TypeError, match="public route"):
        ApiEntrypoint.decorator("POST", "/api/v1/x", public=True, document=False)(with_actor)


def test_the_entrypoint_passes_the_body_as_sent_for_its_owner_to_validate_the_actor_and_the_idempotency_key():
    """The gateway checks only that the body is a JSON object within the limits; the service owning
    the operation validates its fields with its contract's schema (once)."""
    entrypoint = ApiEntrypoint("POST", "/api/v1/x", request_schema=ChallengeRequestSchema, idempotent=True,
                               roles=("clerk",), document=False)
    entrypoint.injects = frozenset({"body", "actor", "idempotency_key"})
    request = request_with(b'{"username": "li"}')
    request.headers = {"Idempotency-Key": "k-1"}
    request.principal = Principal("u1", "li", "U1", ("clerk",), False, "jti", 0, proxy_user_id="u2")
    assert entrypoint.injected(request) == {
        "body": {"username": "li"}, "idempotency_key": "k-1",
        "actor": {"user_id": "u1", "unit_code": "U1", "roles": ["clerk"], "proxy_user_id": "u2"}}
    principal, request = request.principal, request_with(b'{"username": 7, "other": null}')
    request.principal = principal  # the fields are identity's to check, not the gateway's
    assert entrypoint.injected(request)["body"] == {"username": 7, "other": None}
    for not_an_object in (b'[{"username": "li"}]', b'"li"', b"7"):
        with pytest.raises(ValidationFailed):
            entrypoint.injected(request_with(not_an_object))  # refused before the route runs


def test_a_json_part_is_its_text_whether_sent_as_a_json_field_or_as_a_utf8_file():
    """A part declared by a JSON schema (the document says ``encoding: application/json``) is read as
    a field, as schemathesis and browsers send it, or as a file (the CLI's ``manifest.json``); bytes that
    are not UTF-8 are a validation error, never a manifest's bytes."""
    manifest = b'{"issuer_code":"gz-fgw"}'
    kinds = {"manifest": {"type": "object"}}
    for filename in (None, "manifest.json"):
        body = ('--B\r\nContent-Disposition: form-data; name="manifest"'
                + (f'; filename="{filename}"' if filename else "")
                + "\r\nContent-Type: application/json\r\n\r\n").encode() + manifest + b"\r\n--B--\r\n"
        parts = form_parts(request_with(body, "multipart/form-data; boundary=B", kinds), required=("manifest",))
        assert parts == {"manifest": manifest.decode()}
    for filename in (None, "manifest.json"):
        body = ('--B\r\nContent-Disposition: form-data; name="manifest"'
                + (f'; filename="{filename}"' if filename else "") + "\r\n\r\n").encode() + b"\xff{}\r\n--B--\r\n"
        with pytest.raises(ValidationFailed) as refused:
            form_parts(request_with(body, "multipart/form-data; boundary=B", kinds), required=("manifest",))
        assert list(refused.value.fields) == ["manifest"]
