"""The suite stands up and the gateway keeps API.md's conventions (real broker, PostgreSQL)."""
import json
import uuid

import pytest

from conftest import Api, active_unit, operator_login, person, wait_until
from gongwen_local.stack import SERVICES


@pytest.fixture
def api(stack):
    """These tests act as the operator."""
    return operator_login(stack)


def unit_body(code=None, **overrides):
    return {"code": code or f"u-{uuid.uuid4().hex[:10]}", "name": "广州市发展和改革委员会",
            "kind": "department", **overrides}


def test_health_reports_all_six_services_with_their_databases(api):
    reply = api.get("/api/v1/health")
    assert reply.status_code == 200
    services = reply.json()["services"]
    assert set(services) == set(SERVICES)
    assert all(s["status"] == "ok" and s["database"] == "ok" for s in services.values())


def test_request_id_is_echoed_or_made(api):
    assert api.get("/api/v1/health", headers={"X-Request-Id": "dept-sys-42"}).headers["X-Request-Id"] == "dept-sys-42"
    made = api.get("/api/v1/health").headers["X-Request-Id"]
    assert len(made) == 32


def test_openapi_document_describes_the_endpoints_and_swagger_ui_is_served(api):
    spec = api.get("/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert {"post", "get"} <= set(spec["paths"]["/api/v1/units"])
    assert "/api/v1/health" in spec["paths"] and "/api/v1/units/{code}" in spec["paths"]
    assert "UnitApplication" in spec["components"]["schemas"]
    page = api.get("/api/v1/docs")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    assert api.get("/api/v1/docs/static/swagger-ui-bundle.js").status_code == 200


def test_unknown_path_is_a_json_404(api):
    reply = api.get("/api/v1/nothing-here")
    assert reply.status_code == 404
    assert reply.json()["error"] == "NOT_FOUND" and reply.json()["request_id"]


def test_registered_unit_reaches_every_read_model_once(api, dbs):
    body = unit_body()
    reply = api.post("/api/v1/units", json=body)
    assert reply.status_code == 201, reply.text
    assert reply.json()["status"] == "applied"
    revisions = wait_until(lambda: (r := dbs.unit_revisions(body["code"])) and all(r.values()) and r,
                           message="unit in every read model")
    assert set(revisions.values()) == {1}
    assert api.get(f"/api/v1/units/{body['code']}").json()["name"] == body["name"]


def test_directory_lists_with_cursor_pagination(api):
    parent = unit_body()
    assert api.post("/api/v1/units", json=parent).status_code == 201
    children = sorted(f"{parent['code']}-c{i}" for i in range(3))
    for code in children:
        assert api.post("/api/v1/units", json=unit_body(code, parent_code=parent["code"])).status_code == 201
    first = api.get("/api/v1/units", params={"parent": parent["code"], "limit": 2}).json()
    assert [u["code"] for u in first["items"]] == children[:2] and first["next_cursor"]
    second = api.get("/api/v1/units", params={"parent": parent["code"], "limit": 2,
                                              "cursor": first["next_cursor"]}).json()
    assert [u["code"] for u in second["items"]] == children[2:] and second["next_cursor"] is None
    assert api.get("/api/v1/units", params={"limit": 0}).json()["error"] == "VALIDATION_ERROR"


def test_idempotency_key_returns_the_first_result_and_refuses_another_body(api, dbs):
    body, key = unit_body(), uuid.uuid4().hex
    first = api.post("/api/v1/units", json=body, headers={"Idempotency-Key": key})
    again = api.post("/api/v1/units", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = api.post("/api/v1/units", json=unit_body(), headers={"Idempotency-Key": key})
    assert other.status_code == 409 and other.json()["error"] == "IDEMPOTENCY_KEY_REUSED"
    assert dbs.scalar("registry", "SELECT count(*) FROM outbox_events WHERE payload::text LIKE :c",
                      c=f'%{body["code"]}%') == 1
    assert api.post("/api/v1/units", json=body).json()["error"] == "UNIT_CODE_TAKEN"


def _written(dbs):
    return (dbs.scalar("registry", "SELECT count(*) FROM units"),
            dbs.scalar("registry", "SELECT count(*) FROM outbox_events"))


def test_bad_input_gets_a_field_level_400_or_413_and_writes_nothing(api, dbs):
    before = _written(dbs)
    malformed = api.post("/api/v1/units", data=b'{"code": "x", ', headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400 and malformed.json()["error"] == "MALFORMED_JSON"

    wrong_types = api.post("/api/v1/units", json={"code": 12, "name": ["a"], "kind": "department"})
    assert wrong_types.status_code == 400
    assert wrong_types.json()["error"] == "VALIDATION_ERROR"
    assert set(wrong_types.json()["fields"]) == {"code", "name"}

    missing = api.post("/api/v1/units", json={"code": "abc"})
    assert missing.status_code == 400 and set(missing.json()["fields"]) == {"name", "kind"}

    not_object = api.post("/api/v1/units", json=[unit_body()])
    assert not_object.status_code == 400 and not_object.json()["error"] == "VALIDATION_ERROR"

    unknown_kind = api.post("/api/v1/units", json=unit_body(kind="club"))
    assert unknown_kind.status_code == 400 and "kind" in unknown_kind.json()["fields"]

    unknown_parent = api.post("/api/v1/units", json=unit_body(parent_code="nobody"))
    assert unknown_parent.status_code == 422 and unknown_parent.json()["error"] == "UNKNOWN_PARENT_UNIT"

    oversize = api.post("/api/v1/units", data=json.dumps(unit_body(name="x" * 2_000_000)),
                        headers={"Content-Type": "application/json"})
    assert oversize.status_code == 413 and oversize.json()["error"] == "PAYLOAD_TOO_LARGE"

    for reply in (malformed, wrong_types, missing, not_object, oversize):
        assert reply.json()["request_id"] == reply.headers["X-Request-Id"]
        assert "Traceback" not in reply.text
    assert _written(dbs) == before


def test_a_deeply_nested_body_is_malformed_json_even_without_a_login(stack):
    """Reproduced as a 500 on /auth/challenge: 100,000 nested ``[`` exhausted the JSON parser."""
    anonymous = Api(stack.gateway_url)
    for raw in (b"[" * 100_000, b'{"username": ' * 50_000):
        reply = anonymous.post("/api/v1/auth/challenge", data=raw, headers={"Content-Type": "application/json"})
        assert (reply.status_code, reply.json()["error"]) == (400, "MALFORMED_JSON"), reply.text


def test_a_multipart_file_part_without_a_filename_is_a_validation_error(stack, api):
    """Reproduced as a 500 on /seals/sign: a part without a filename is a text field, not the file's bytes
    (the signature of /seals/verify is a file; the manifest to seal is now a JSON part, field or file)."""
    code = f"u-{uuid.uuid4().hex[:8]}"
    active_unit(api, code)
    clerk = person(stack, api, code, "clerk").api
    reply = clerk.post("/api/v1/seals/verify", files={"manifest": ("m", b"{}"), "signature": (None, b"MIIB")})
    assert (reply.status_code, reply.json()["error"]) == (400, "VALIDATION_ERROR"), reply.text
    assert reply.json()["fields"] == {"signature": ["must be sent as a file (a part with a filename)"]}
    # the manifest to seal is a JSON object (`encoding: application/json`): as a field it is its JSON text
    as_field = clerk.post("/api/v1/seals/sign", files={"manifest": (None, b'{"a": 1}', "application/json")})
    assert (as_field.status_code, as_field.json()["error"]) == (422, "INVALID_MANIFEST"), as_field.text


def test_error_bodies_carry_fields_as_an_object_or_not_at_all(api):
    """A service's error without field errors crossed RPC as the string "None"."""
    missing = api.get("/api/v1/units/no-such-unit")
    assert missing.status_code == 404 and "fields" not in missing.json(), missing.text
    invalid = api.post("/api/v1/units", json={"code": "abc"})
    assert invalid.status_code == 400 and isinstance(invalid.json()["fields"], dict), invalid.text


@pytest.mark.parametrize("method, path, allow", [
    ("DELETE", "/api/v1/units", "GET, HEAD, POST"),
    ("OPTIONS", "/api/v1/units/merge", "POST"),  # not /units/{code}: the literal path is the route
    ("TRACE", "/api/v1/seals/sign", "POST"),
    ("PATCH", "/api/v1/seals/S-1/image.png", "GET, HEAD, PUT"),
])
def test_a_known_path_with_another_method_is_a_json_405_listing_only_the_paths_methods(api, method, path, allow):
    reply = api.http.request(method, api.base_url + path, timeout=30)
    assert reply.status_code == 405, reply.text
    assert reply.headers["Allow"] == allow
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.json()["error"] == "METHOD_NOT_ALLOWED" and reply.json()["request_id"]


def test_a_path_werkzeug_cannot_route_is_our_json_404_not_an_html_page(api):
    """A newline in a path matched no rule (the catch-all's ``path`` converter stops at it) once the
    letter id was no integer, and werkzeug answered its HTML page."""
    for method in ("GET", "POST"):
        reply = api.http.request(method, api.base_url + "/api/v1/admin/dead-letters/a%0Ab/x/replay", timeout=30)
        assert reply.status_code == 404, reply.text
        assert reply.json()["error"] == "NOT_FOUND" and reply.headers["X-Request-Id"]


def test_an_idempotency_key_is_checked_only_where_the_route_honours_it(api):
    code = unit_body()["code"]
    active_unit(api, code)
    renamed = api.post(f"/api/v1/units/{code}/rename", json={"name": "新的名称"},
                       headers={"Idempotency-Key": "has space"})
    assert renamed.status_code == 200, renamed.text  # rename does not take one: it is ignored
    refused = api.post("/api/v1/units", json=unit_body(), headers={"Idempotency-Key": "k" * 129})
    assert (refused.status_code, list(refused.json()["fields"])) == (400, ["Idempotency-Key"]), refused.text


@pytest.mark.parametrize("query, field", [
    ("limit=0", "limit"), ("limit=201", "limit"), ("state=lost", "state"), ("urgency=now", "urgency"),
    ("since=yesterday", "since"),
])
def test_the_inbox_query_is_checked_against_the_documented_bounds(api, query, field):
    spec = api.get("/api/v1/openapi.json").json()
    documented = {p["name"]: p["schema"] for p in spec["paths"]["/api/v1/inbox"]["get"]["parameters"]}
    assert documented["limit"]["minimum"] == 1 and documented["limit"]["maximum"] == 200
    assert documented["since"]["format"] == "date-time" and "lost" not in documented["state"]["enum"]
    reply = api.get(f"/api/v1/inbox?{query}")
    assert reply.status_code == 400 and field in reply.json()["fields"], reply.text


def test_include_replayed_is_a_boolean_not_any_text(api):
    assert api.get("/api/v1/admin/dead-letters?include_replayed=true").status_code == 200
    reply = api.get("/api/v1/admin/dead-letters?include_replayed=null")
    assert reply.status_code == 400 and "include_replayed" in reply.json()["fields"], reply.text
