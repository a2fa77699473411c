"""The archive at three instances on PostgreSQL (issue 14): documents sent, signed and registered
(completed) through the gateway are each packaged once, their steps in the ledger in causal order
(one active consumer per source's queue, whichever instance it is); the ledger verifies against its signed
head (``gongwen ledger verify``'s function); every tree head the instances signed has its own
size, a time no earlier than a smaller head's, and holds over the ledger."""
import uuid

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from conftest import Databases, StackFactory, operator_login, wait_until, when_known
from gongwen_cli import ledger_audit
from gongwen_cli.gateway import Gateway
from gongwen_cli.ledger import consistency_of, entries_of, verify_through
from tests.test_documents import sealed_unit, send, system_of, unit

INSTANCES = 3
DOCUMENTS = 3


@pytest.fixture(scope="module")
def archives(rabbit, postgres, test_var, fake_twilio):
    # heads due at every 5 s tick of every instance: the three timers meet on the same ticks
    factory = StackFactory(rabbit, postgres, test_var / "logs",
                           env={**fake_twilio.env, "LEDGER_TREE_HEAD_SECONDS": "1", "RPC_TIMEOUT": "20"})
    yield from factory.serving(scale={"archive": INSTANCES})


def test_three_archive_instances_package_each_document_once_and_keep_one_verifiable_ledger(archives):
    stack = archives
    assert len(stack.of("archive")) == INSTANCES
    operator = operator_login(stack)
    _, clerk = sealed_unit(stack, operator)
    tag = uuid.uuid4().hex[:4]
    recipient = unit(operator, f"as-{tag}", "归档扩容乙")
    system = system_of(stack, operator, recipient)
    documents = []
    for n in range(DOCUMENTS):
        metadata = {"doc_number": f"穗档〔2026〕{tag}{n}号", "title": "关于归档扩容检查的通知", "signer": "李四",
                    "urgency": "normal", "secrecy": "none", "main_recipients": [recipient]}
        sent = when_known(lambda metadata=metadata: send(clerk, metadata), message="the exchange to know them")
        assert sent.status_code == 201, sent.text
        documents.append(sent.json()["id"])
    for n, doc in enumerate(documents):
        assert system.post(f"/api/v1/documents/{doc}/sign").status_code == 200
        assert system.post(f"/api/v1/documents/{doc}/register",
                           json={"registration_number": f"收〔2026〕{n}号"}).status_code == 200
    dbs = Databases(stack)
    wait_until(lambda: dbs.scalar("archive", "SELECT count(*) FROM archival_packages") == DOCUMENTS,
               timeout=60, message="every completed document's package")
    wait_until(lambda: dbs.scalar("archive", "SELECT count(*) FROM package_jobs") == 0, timeout=30,
               message="no package job left")
    archived = dbs.rows("archive", "SELECT document_id, count(*) FROM ledger_entries "
                                   "WHERE event_type = 'package_archived' GROUP BY document_id")
    assert sorted(archived) == sorted((doc, 1) for doc in documents)
    # each source's queue has one active consumer among the instances: a document's steps in causal order
    for doc in documents:
        steps = [t for (t,) in dbs.rows("archive", "SELECT event_type FROM ledger_entries WHERE document_id = :d "
                                                   "ORDER BY seq", d=doc)]
        order = ["document_sent", "receipt_signed", "receipt_registered", "document_completed", "package_archived"]
        assert [t for t in steps if t in order] == order, steps
    announced = dbs.rows("archive", "SELECT payload->'data'->>'document_id' FROM outbox_events "
                                    "WHERE event_type = 'package_archived'")
    assert sorted(d for (d,) in announced) == sorted(documents)
    with ClusterRpcProxy({"AMQP_URI": stack.amqp_uri}, timeout=30) as suite:
        suite.archive.publish_tree_head()

    gateway = Gateway(stack.gateway_url, operator.http.headers["Authorization"].split()[1])
    verdict = verify_through(gateway)
    assert verdict.ok, verdict.summary()
    heads = [{"tree_size": size, "root_hash": root, "timestamp": timestamp, "signature": signature, "key_id": key}
             for size, root, timestamp, signature, key in dbs.rows(
                 "archive", "SELECT tree_size, encode(root_hash, 'base64'), timestamp, "
                            "encode(signature, 'base64'), key_id FROM tree_heads ORDER BY tree_size")]
    heads = [{**head, "root_hash": head["root_hash"].replace("\n", ""),
              "signature": head["signature"].replace("\n", "")} for head in heads]
    assert len(heads) >= 2
    assert [h["timestamp"] for h in heads] == sorted(h["timestamp"] for h in heads)
    keys = gateway.request("GET", "/api/v1/ledger/keys")["keys"]
    entries = list(entries_of(gateway))
    for head in heads:  # each head the instances signed holds over the same ledger
        held = ledger_audit.verify(head, keys, entries, consistency_of(gateway))
        assert held.ok, (head["tree_size"], held.summary())
