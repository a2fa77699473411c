"""Exchange and notify at three instances each, on PostgreSQL: every timer's work happens once.

Each timer claims its rows in the database (``FOR UPDATE SKIP LOCKED``: the exchange's overdue
sweep marks the receipt in the transaction of its event, notify's escalation steps and deliveries
are claimed with a lease, ``gongwen_common.claims``), so three instances ticking at the same moment
share the work without doing any of it twice. The tests move time the way the stack can be moved:
the deadlines and step times stored in the databases are set to a moment just past, all at once,
so that every instance finds the same work due at its next tick, and then count in the databases
(and at the fake Twilio) what was done.
"""
import uuid
from collections import Counter

import pytest

from conftest import Databases, StackFactory, operator_login, wait_until
from tests.test_notifications import reachable_unit, sealed_sender, send_urgent
from tests.test_sms_delivery import SMS_ENV

INSTANCES = 3
# every instance's timers tick often, so that they meet on the same rows
TICKS = {**SMS_ENV, "EXCHANGE_SWEEP_SECONDS": "0.5", "NOTIFY_TICK_SECONDS": "0.3", "DELIVERY_POLL_INTERVAL": "0.3",
         "DELIVERY_RECONCILE_INTERVAL": "0.5", "DELIVERY_RECONCILE_AFTER": "0.5",
         "RPC_TIMEOUT": "20"}  # a busy machine: a login's password hash may wait for a core


@pytest.fixture(scope="module")
def scaled(rabbit, postgres, test_var, fake_twilio):
    factory = StackFactory(rabbit, postgres, test_var / "logs", env={**fake_twilio.env, **TICKS})
    try:
        stack = factory(scale={"exchange": INSTANCES, "notify": INSTANCES})
        operator, tag = operator_login(stack), uuid.uuid4().hex[:6]
        sender, clerk = sealed_sender(stack, operator, tag)
        recipients = [f"r{n}-{tag}" for n in range(2)]
        for code in recipients:
            reachable_unit(stack, operator, code, f"收文单位{code}")
        yield stack, clerk, recipients, tag
    finally:
        factory.close()


def in_list(name, values):
    """``name IN (:name0, :name1, …)`` and its parameters."""
    return (f"({', '.join(f':{name}{i}' for i in range(len(values)))})",
            {f"{name}{i}": value for i, value in enumerate(values)})


def test_three_exchange_instances_announce_each_overdue_receipt_once(scaled):
    stack, clerk, recipients, tag = scaled
    dbs = Databases(stack)
    assert len(stack.of("exchange")) == INSTANCES
    documents = [send_urgent(clerk, recipients, f"穗府办〔2026〕{tag}o{n}号")["id"] for n in range(6)]
    ids, params = in_list("d", documents)
    receipts = dbs.rows("exchange", f"SELECT id FROM receipts WHERE document_id IN {ids}", **params)
    assert len(receipts) == len(documents) * len(recipients)
    with dbs.engines["exchange"].begin() as conn:  # the deadline of every receipt passes, at once
        conn.exec_driver_sql(f"UPDATE receipts SET due_at = now() - interval '1 minute' WHERE document_id IN "
                             f"({', '.join(repr(d) for d in documents)})")
    wait_until(lambda: dbs.scalar("exchange", f"SELECT count(*) FROM receipts WHERE overdue_at IS NOT NULL AND "
                                              f"document_id IN {ids}", **params) == len(receipts),
               timeout=60, message="every receipt swept overdue")
    # more sweeps of every instance (each every 0.5 s) after the last receipt was marked announce nothing again
    marked = dbs.scalar("exchange", "SELECT max(overdue_at) FROM receipts")
    wait_until(lambda: dbs.scalar("exchange", "SELECT now() - :m > interval '3 seconds'", m=marked), timeout=30,
               message="several more sweeps")
    announced = Counter(receipt_id for (receipt_id,) in dbs.rows(
        "exchange", "SELECT payload->'data'->>'receipt_id' FROM outbox_events WHERE event_type = 'receipt_overdue'"))
    assert {receipt_id: announced[receipt_id] for (receipt_id,) in receipts} == {r: 1 for (r,) in receipts}
    # and the consumers heard each once: the archive's ledger has one entry each
    wait_until(lambda: dbs.scalar("archive", f"SELECT count(*) FROM ledger_entries WHERE "
                                             f"event_type = 'receipt_overdue' "
                                             f"AND document_id IN {ids}", **params) == len(receipts),
               timeout=60, message="the ledger to hold every receipt_overdue")


def test_three_notify_instances_fire_each_escalation_step_once_and_send_each_message_once(scaled, fake_twilio):
    stack, clerk, recipients, tag = scaled
    dbs = Databases(stack)
    assert len(stack.of("notify")) == INSTANCES
    fake_twilio.reset()
    fake_twilio.faults(callbacks={"mode": "lose"})  # no status callbacks: reconciliation fetches each status
    documents = [send_urgent(clerk, recipients, f"穗府办〔2026〕{tag}e{n}号")["id"] for n in range(4)]
    ids, params = in_list("d", documents)
    wait_until(lambda: dbs.scalar("notify", f"SELECT count(*) FROM escalation_steps WHERE document_id IN {ids}",
                                  **params), timeout=60, message="notify to plan the escalation steps")
    # every step still pending becomes due at once (the later reminders too): time has moved on
    with dbs.engines["notify"].begin() as conn:
        conn.exec_driver_sql(f"UPDATE escalation_steps SET fire_at = now() WHERE status = 'pending' AND document_id IN "
                             f"({', '.join(repr(d) for d in documents)})")
    wait_until(lambda: dbs.scalar("notify", f"SELECT count(*) FROM escalation_steps WHERE status = 'pending' "
                                            f"AND fire_at <= now() AND document_id IN {ids}", **params) == 0,
               timeout=90, message="every due step fired")
    steps = dbs.rows("notify", f"SELECT id, status, fired_at IS NOT NULL FROM escalation_steps WHERE "
                               f"document_id IN {ids} AND fire_at <= now()", **params)
    assert steps and all(status == "fired" and fired for _, status, fired in steps), steps
    told = Counter(dbs.rows("notify", f"SELECT step_id, user_id FROM notifications WHERE document_id IN {ids}",
                            **params))
    assert told and set(told.values()) == {1}  # each person once per step, whichever instance fired it
    assert {step_id for step_id, _ in told} == {step_id for step_id, _, _ in steps}
    messages = dbs.rows("notify", f"SELECT id, provider_sid FROM messages WHERE document_id IN {ids}", **params)
    assert messages
    wait_until(lambda: dbs.scalar("notify", f"SELECT count(*) FROM messages WHERE document_id IN {ids} AND "
                                            f"status NOT IN ('delivered', 'undelivered', 'failed')", **params) == 0,
               timeout=90, message="every message's final status, fetched by reconciliation (callbacks were lost)")
    messages = dbs.rows("notify", f"SELECT id, provider_sid FROM messages WHERE document_id IN {ids}", **params)
    assert len({sid for _, sid in messages}) == len(messages)
    assert len(fake_twilio.record()["attempts"]) == len(messages)  # one create per message, ever
