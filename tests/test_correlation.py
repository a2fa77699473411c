"""One correlation id end to end: a request's X-Request-Id is on the log lines of every service
it touched (by RPC or through the events it caused) and on those events."""
import json
import uuid

from conftest import Api, Databases, active_unit, everywhere, operator_login, wait_until
from gongwen_local.stack import SERVICES
from tests.test_documents import sealed_unit, send


def services_logging(stack, correlation_id) -> dict:
    """Service name -> messages of its log lines that carry ``correlation_id``."""
    found = {}
    for path in stack.log_dir.glob("*.log"):
        for line in path.read_text().splitlines():
            if line.startswith("{") and correlation_id in line:
                entry = json.loads(line)
                if entry.get("correlation_id") == correlation_id:
                    found.setdefault(path.stem.rsplit("-", 1)[0], []).append(entry["message"])
    return found


def wait_for_lines(stack, correlation_id, expected: dict) -> dict:
    """Wait until each service's log has the expected messages under ``correlation_id``."""
    def seen():
        found = services_logging(stack, correlation_id)
        return all(set(messages) <= set(found.get(service, ())) for service, messages in expected.items()) and found
    return wait_until(seen, message=f"log lines under {correlation_id}: {expected}")


def test_one_request_id_follows_a_unit_registration_through_every_service(stack):
    api, dbs = operator_login(stack), Databases(stack)
    code, request_id = f"corr-{uuid.uuid4().hex[:6]}", f"req-{uuid.uuid4().hex}"
    made = api.post("/api/v1/units", json={"code": code, "name": f"单位 {code}", "kind": "department"},
                    headers={"X-Request-Id": request_id})
    assert made.status_code == 201 and made.headers["X-Request-Id"] == request_id
    everywhere(dbs, code)

    assert dbs.rows("registry", "SELECT correlation_id FROM outbox_events WHERE payload::text LIKE :c",
                    c=f'%"{code}"%') == [(request_id,)]
    wait_for_lines(stack, request_id, {
        "gateway": ["POST /api/v1/units 201"], "registry": ["rpc register_unit ok", "published unit_registered"],
        **{consumer: ["handled unit_registered"] for consumer in SERVICES if consumer != "registry"}})


def test_one_request_id_follows_a_sealed_send_through_the_exchange_and_the_seal_service(stack):
    operator, dbs = operator_login(stack), Databases(stack)
    _, clerk = sealed_unit(stack, operator)
    recipient = active_unit(operator, f"cr-{uuid.uuid4().hex[:6]}")["code"]
    tag, request_id = uuid.uuid4().hex[:6], f"req-{uuid.uuid4().hex}"
    metadata = {"doc_number": f"穗府办〔2026〕{tag}号", "title": "关于关联编号的通知", "signer": "李四",
                "urgency": "normal", "secrecy": "none", "main_recipients": [recipient], "cc_recipients": []}
    clerk.http.headers["X-Request-Id"] = request_id
    sent = wait_until(lambda: [r for r in [send(clerk, metadata)] if r.json().get("error") != "UNKNOWN_UNIT"],
                      message="the exchange to know the units")[0]
    assert sent.status_code == 201, sent.text

    events = dbs.rows("exchange", "SELECT event_type, correlation_id FROM outbox_events WHERE payload::text LIKE :d",
                      d=f'%{sent.json()["id"]}%')
    assert events and {cid for _, cid in events} == {request_id}, events
    wait_for_lines(stack, request_id, {"gateway": ["POST /api/v1/documents 201"],
                                       "exchange": ["rpc send_document ok", "published document_sent"],
                                       "seal": ["rpc sign ok"]})


def test_a_refused_request_is_logged_under_its_request_id(stack):
    """The security log's refusal line is written before any worker runs: it still carries the id."""
    request_id = f"req-{uuid.uuid4().hex}"
    refused = Api(stack.gateway_url).get("/api/v1/me", headers={"X-Request-Id": request_id})
    assert refused.status_code == 401 and refused.json()["request_id"] == request_id
    wait_for_lines(stack, request_id, {"gateway": ["/api/v1/me refused: UNAUTHENTICATED", "GET /api/v1/me 401"]})
