"""A 3-node RabbitMQ cluster under the suite: ``kill -9`` of the node the services use, in the middle
of a run of 1,000 sealed documents, loses and doubles nothing, and no service is restarted — each
one fails over to another node named in its ``AMQP_URI``."""
import json
import threading
import time
import uuid

import pytest
import requests
from kombu import Connection, Exchange, Queue
from nameko.containers import ServiceContainer
from nameko.messaging import QueueConsumer as NamekoQueueConsumer

from conftest import Databases, StackFactory, active_unit, log_tail, operator_login, wait_for_all, wait_until
from gongwen_common import topology
from gongwen_common.entrypoints import QueueConsumer
from gongwen_gateway.service import GatewayService
from gongwen_local.stack import SERVICES, service_class
from tests.test_documents import sealed_unit

DOCUMENTS = 1000
SENDERS = 8
KILL_AFTER = 300  # accepted documents before the node dies


@pytest.fixture(scope="module")
def cluster_stack(rabbit_cluster, postgres, test_var, fake_twilio):
    factory = StackFactory(rabbit_cluster, postgres, test_var / "logs", env=fake_twilio.env)
    try:  # a stack that never became healthy is stopped too
        # a longer call timeout than other stacks': three brokers and the services share two loaded cores
        yield factory(env={"RPC_TIMEOUT": "15"})
    finally:
        factory.close()


@pytest.mark.parametrize("name", [*SERVICES, "gateway"])
def test_every_consumer_a_process_runs_outlives_a_lost_broker_node(name):
    """Entrypoints, event handlers and the RPC reply listener all consume through
    ``entrypoints.QueueConsumer``: with nameko's own, settling a message on a connection that had
    just died killed the container (the exchange's reply listener did, in the node kill below)."""
    service = GatewayService if name == "gateway" else service_class(name)
    container = ServiceContainer(service, {"AMQP_URI": "memory://"})  # bound, not started: nothing connects
    found = [e for e in container.extensions if isinstance(e, NamekoQueueConsumer)]
    assert found and all(isinstance(consumer, QueueConsumer) for consumer in found), found


def test_a_quorum_queue_has_a_member_on_every_node_of_the_cluster(rabbit_cluster, cluster_stack):
    node = rabbit_cluster.running()[0]
    vhost = cluster_stack.amqp_uri.split(";")[0].rsplit("/", 1)[1]
    queues = node._get(f"/api/queues/{vhost}?columns=name,type,members,durable,exclusive")
    quorum = [q for q in queues if q["type"] == "quorum"]
    assert {q["name"] for q in quorum} >= {"rpc-exchange", "rpc-seal", "gongwen.dead-letter.exchange",
                                           "evt-exchange-document_sent--notify.on_document_sent"}
    everyone = {n.node for n in rabbit_cluster.nodes}
    assert all(set(q["members"]) == everyone for q in quorum), [q for q in quorum if set(q["members"]) != everyone]
    # the others are a connection's own (RPC replies, the gateway's broadcasts): transient or exclusive, they go
    # with their node and are declared again wherever their consumer reconnects (a standalone proxy's, made for
    # one call, is never declared again)
    assert all(not q["durable"] or q["exclusive"] or q["name"].startswith("rpc.reply-standalone_rpc_proxy-")
               for q in queues if q["type"] != "quorum"), queues


def test_declaring_the_topology_replaces_an_earlier_releases_classic_rpc_queue(rabbit_cluster):
    """A broker of an earlier release holds nameko's classic ``rpc-<service>`` queue; the services,
    now on a quorum queue of that name, could not declare theirs beside it."""
    vhost = f"legacy-{uuid.uuid4().hex[:6]}"
    rabbit_cluster.add_vhost(vhost)
    uri = rabbit_cluster.amqp_uri(vhost)
    rpc_exchange = Exchange("nameko-rpc", durable=True, type="topic")
    with Connection(uri) as conn:
        Queue("rpc-legacy", exchange=rpc_exchange, routing_key="legacy.*", durable=True)(conn.default_channel).declare()

    class Legacy:
        name = "legacy"

    assert "rpc-legacy" in topology.declare_all(uri, [Legacy])
    assert topology.declare_all(uri, [Legacy])  # and again: idempotent
    node = rabbit_cluster.running()[0]
    queue = node._get(f"/api/queues/{vhost}/rpc-legacy")
    assert queue["type"] == "quorum" and set(queue["members"]) == {n.node for n in rabbit_cluster.nodes}
    assert [b["routing_key"] for b in node._get(f"/api/queues/{vhost}/rpc-legacy/bindings")
            if b["source"] == "nameko-rpc"] == ["legacy.*"]
    rabbit_cluster.delete_vhost(vhost)


def send_until_accepted(clerk, metadata, body, key, deadline):
    """A department system's send: on a refusal to answer (5xx, a dropped connection, the first call
    not finished) it tries again with the same Idempotency-Key."""
    form = {"metadata": json.dumps(metadata, ensure_ascii=False)}
    tries = []
    while time.monotonic() < deadline:
        try:
            reply = clerk.post("/api/v1/documents", data=form, files=[("body", ("正文.html", body))],
                               headers={"Idempotency-Key": key})
        except requests.RequestException as exc:
            tries.append(type(exc).__name__)
        else:
            tries.append(reply.status_code)
            if reply.status_code == 201:
                return reply.json()["id"], tries
            if not (reply.status_code >= 500 or reply.json().get("error") == "IDEMPOTENCY_KEY_IN_USE"):
                raise AssertionError(f"{metadata['doc_number']}: {reply.status_code} {reply.text}")
        time.sleep(0.2)
    raise AssertionError(f"{metadata['doc_number']} not accepted: {tries}")


@pytest.mark.slow
@pytest.mark.timeout(900)  # 1,000 documents: about a minute on an idle machine, minutes on a loaded one
def test_killing_the_broker_node_mid_run_loses_and_doubles_no_document(rabbit_cluster, cluster_stack):
    stack = cluster_stack
    operator, dbs = operator_login(stack), Databases(stack)
    issuer, clerk = sealed_unit(stack, operator)
    recipient = active_unit(operator, f"r-{uuid.uuid4().hex[:6]}", "接收单位")["code"]
    wait_until(lambda: dbs.scalar("exchange", "SELECT count(*) FROM unit_views WHERE code = :c AND status = 'active'",
                                  c=recipient), message="the exchange to know the recipient")
    pids = {(p.name, p.index): p.process.pid for p in stack.processes}
    vhost = stack.amqp_uri.split(";")[0].rsplit("/", 1)[1]
    # the management API lists connections a few seconds after they open (its statistics interval)
    victim = wait_until(lambda: rabbit_cluster.connected_node(vhost), message="the services' connections listed")

    tag = uuid.uuid4().hex[:6]
    work = iter(range(DOCUMENTS))
    lock, accepted, retried, failures = threading.Lock(), {}, {}, []
    deadline = time.monotonic() + 900  # a ceiling only: on two loaded cores a send can take seconds

    def sender():
        while True:
            with lock:
                n = next(work, None)
            if n is None:
                return
            metadata = {"doc_number": f"穗集〔2026〕{tag}{n}号", "title": f"集群测试公文 {n}", "signer": "李四",
                        "urgency": "normal", "secrecy": "none", "main_recipients": [recipient]}
            try:
                doc, tries = send_until_accepted(clerk, metadata, f"<p>{tag} {n}</p>".encode(), f"{tag}-{n}", deadline)
            except AssertionError as exc:
                failures.append(str(exc))
                return
            with lock:
                accepted[n] = doc
                if len(tries) > 1:
                    retried[n] = tries

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    wait_until(lambda: len(accepted) >= KILL_AFTER or failures, timeout=600, message=f"{KILL_AFTER} documents sent")
    victim.crash()
    killed_at = len(accepted)
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert not failures, failures[:5]
    assert len(accepted) == DOCUMENTS and killed_at < DOCUMENTS - 100, killed_at
    print(f"\n{DOCUMENTS} documents in {elapsed:.1f}s; {victim.node} killed after {killed_at}; "
          f"{len(retried)} sends retried: {list(retried.values())[:5]}")

    # every accepted document is there once, with one consistent receipt
    docs = dbs.rows("exchange", "SELECT id, doc_number, status FROM documents WHERE issuer_code = :c", c=issuer)
    assert len(docs) == DOCUMENTS and {d[0] for d in docs} == set(accepted.values())
    assert len({d[1] for d in docs}) == DOCUMENTS and {d[2] for d in docs} == {"sent"}
    receipts = dbs.rows("exchange", "SELECT r.document_id, r.unit_code, r.role, r.state, r.latest FROM receipts r "
                                    "JOIN documents d ON d.id = r.document_id WHERE d.issuer_code = :c", c=issuer)
    assert len(receipts) == DOCUMENTS and {r[0] for r in receipts} == set(accepted.values())
    assert {r[1:] for r in receipts} == {(recipient, "main", "delivered", True)}

    # each document_sent left the outbox once and was handled once by each of its consumers
    def sent_events():
        return dbs.rows("exchange", "SELECT event_id, sent_at IS NOT NULL FROM outbox_events "
                                    "WHERE event_type = 'document_sent' AND payload::text LIKE :c",
                        c=f'%"{issuer}"%')
    wait_until(lambda: (rows := sent_events()) and all(sent for _, sent in rows), timeout=60,
               message="every document_sent published")
    event_ids = {event_id for event_id, _ in sent_events()}
    assert len(event_ids) == DOCUMENTS
    for service, handler in (("notify", "on_document_sent"), ("archive", "ledger_exchange")):
        def handled(service=service, handler=handler):
            return dbs.rows(service, "SELECT event_id, count(*) FROM handled_events WHERE handler = :h "
                                     "AND event_type = 'document_sent' GROUP BY event_id", h=handler)
        try:
            wait_for_all(lambda: len(event_ids & {e for e, _ in handled()}), DOCUMENTS,  # noqa: B023
                         message=f"{service} handling every document_sent")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{service}'s log ends:\n{log_tail(stack, service)}") from None
        assert {n for e, n in handled() if e in event_ids} == {1}

    # nobody was restarted: the same processes, now on the surviving nodes
    assert {(p.name, p.index): p.process.pid for p in stack.processes if p.alive} == pids
    assert stack.health()[0] == 200
    assert rabbit_cluster.connected_node(vhost) not in (None, victim)
