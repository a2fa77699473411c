"""Every service and the gateway serve Prometheus metrics (``METRICS_PORT``, assigned per process by
the stack) that ``prometheus_client``'s parser reads; after a sealed send they hold what the
dashboard and the alert rules read, with values that show the send."""
import uuid

import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import Databases, active_unit, operator_login, wait_until, when_known
from gongwen_local.stack import SERVICES
from tests.test_documents import sealed_unit, send, system_of

EVERY_PROCESS = ("gongwen_entrypoint_duration_seconds",)
EVERY_SERVICE = ("gongwen_outbox_backlog", "gongwen_outbox_oldest_age_seconds", "gongwen_dead_letters")


def scrape(stack, name) -> dict:
    """family name -> [(labels, value)] of the first instance of ``name``."""
    (process,) = [p for p in stack.of(name)][:1]
    reply = requests.get(f"http://127.0.0.1:{process.metrics_port}/metrics", timeout=10)
    assert reply.status_code == 200 and reply.headers["Content-Type"].startswith("text/plain")
    families = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            families.setdefault(sample.name, []).append((sample.labels, sample.value))
        families.setdefault(family.name, [])
    return families


def value(families, name, **labels) -> float:
    return sum(v for found, v in families.get(name, []) if labels.items() <= found.items())


def test_every_service_and_the_gateway_serve_metrics_that_show_a_sealed_send(stack):
    # the session's stack has served other modules: counters are compared with their values before
    before = {name: scrape(stack, name) for name in (*SERVICES, "gateway")}

    def grew(families, process, name, **labels):
        return value(families, name, **labels) - value(before[process], name, **labels)

    operator = operator_login(stack)
    sender_code, clerk = sealed_unit(stack, operator)
    recipient = active_unit(operator, f"r-{uuid.uuid4().hex[:6]}", "收文单位")["code"]
    system = system_of(stack, operator, recipient)
    metadata = {"doc_number": f"穗府办〔2026〕{uuid.uuid4().hex[:4]}号", "title": "关于指标的通知", "signer": "李四",
                "urgency": "urgent", "secrecy": "none", "main_recipients": [recipient], "cc_recipients": []}
    sent = when_known(lambda: send(clerk, metadata), message="the exchange to know them")
    assert sent.status_code == 201, sent.text
    assert system.post(f"/api/v1/documents/{sent.json()['id']}/sign").status_code == 200
    assert system.get(f"/api/v1/documents/{uuid.uuid4()}").status_code == 404  # an error, counted by its code
    dbs = Databases(stack)
    wait_until(lambda: dbs.scalar("exchange", "SELECT count(*) FROM outbox_events WHERE sent_at IS NULL") == 0,
               message="the exchange's outbox to publish")

    for name in (*SERVICES, "gateway"):
        families = scrape(stack, name)
        for family in EVERY_PROCESS + (EVERY_SERVICE if name != "gateway" else ()):
            assert family in families, (name, family)
        assert value(families, "gongwen_entrypoint_duration_seconds_count", service=name) > 0, name
        if name != "gateway":
            assert value(families, "gongwen_outbox_backlog", service=name) >= 0
            # other modules leave dead letters of their own (the attacker matrix makes one): none new
            assert grew(families, name, "gongwen_dead_letters", service=name) == 0, name

    gateway = scrape(stack, "gateway")
    assert grew(gateway, "gateway", "gongwen_entrypoint_duration_seconds_count", kind="http",
                entrypoint="send_document") >= 1
    assert grew(gateway, "gateway", "gongwen_entrypoint_errors_total", kind="http", error="NOT_FOUND") >= 1

    exchange = scrape(stack, "exchange")
    assert grew(exchange, "exchange", "gongwen_entrypoint_errors_total", kind="rpc", error="NOT_FOUND") >= 1
    assert value(exchange, "gongwen_documents", status="sent") >= 1
    assert value(exchange, "gongwen_receipts", state="signed") >= 1
    assert "gongwen_overdue_receipts" in exchange
    assert value(exchange, "gongwen_canary_last_success_timestamp_seconds") == 0  # no canary unit in this stack
    assert value(exchange, "gongwen_entrypoint_duration_seconds_count", kind="rpc") > 0
    wait_until(lambda: value(scrape(stack, "exchange"), "gongwen_outbox_publish_duration_seconds_count",
                             service="exchange") > 0, message="the relay's publishes to be timed")
    assert value(scrape(stack, "exchange"), "gongwen_outbox_oldest_age_seconds", service="exchange") == 0

    seal = scrape(stack, "seal")
    assert grew(seal, "seal", "gongwen_seal_operations_total", operation="sign", outcome="ok") >= 1
    assert grew(seal, "seal", "gongwen_seal_operations_total", operation="approve_seal", outcome="ok") >= 1
    ca_days = [v for labels, v in seal["gongwen_certificate_expiry_days"] if labels["certificate"] == "ca"]
    seal_days = [v for labels, v in seal["gongwen_certificate_expiry_days"] if labels["unit_code"] == sender_code]
    assert len(ca_days) == 1 and ca_days[0] > 365 and len(seal_days) == 1 and 700 < seal_days[0] <= 730

    notify = scrape(stack, "notify")
    assert {labels["status"] for labels, _ in notify["gongwen_messages"]} >= {"queued", "delivered", "failed"}
    wait_until(lambda: value(scrape(stack, "notify"), "gongwen_entrypoint_duration_seconds_count", kind="event",
                             entrypoint="on_document_sent") >= 1, message="notify to handle the send")
