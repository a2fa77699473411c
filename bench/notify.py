"""SMS delivery (送达) through notify to the fake Twilio server, beside the raw-HTTP floor, in one run.

Starts its own RabbitMQ node, the fake Twilio (``gongwen_fake_twilio``) and the suite (SQLite), with
notify sending to the fake through the real ``twilio`` client, and measures, in this order:
  floor      raw HTTP POSTs creating messages at the fake server (``http.client``, basic auth, one
             keep-alive connection, sequential; no rate set yet): the per-request latency and rate
             that the server itself allows
  urgent     the issue's figure, end to end: one 特急 (``extra_urgent``) document sent by
             ``exchange.send_document`` (RPC, sealed by the seal service) to ``--units`` units, each
             with ``--people`` people (two clerks and the leader, each with an E.164 mobile, SMS
             enabled by the operator); exchange's ``document_sent`` → notify schedules the steps →
             its timer fires them → delivery sends each SMS through the ``twilio`` client. Measured:
             the time from ``send_document`` returning to the last (the 3,000th) Twilio API call, and
             each message's time from ``send_document`` returning to its API call (p50/p99). The
             sender's rate is unbounded here (``SMS_SEND_RATE=0``, no rate at the fake), so the figure
             is the pipeline's, not a configured pace
  timers     escalation timer lateness: ``--steps`` escalation steps due at known near-future real
             times (spread over ``--spread`` seconds), each firing an SMS to a unit's leader; p50/p99
             of (fired − due) as notify records ``fired_at`` (its timer ticks every
             ``NOTIFY_TICK_SECONDS``, 1 s by default: up to a tick late is the design)
  rate       ``--units`` × ``--people`` messages queued at once in notify's database (as escalation
             queues them), with notify restarted with the sender's rate set to ``--rate`` per second
             (``SMS_SEND_RATE``) and the fake enforcing it (429 / 20429 beyond it): the time from the
             commit to the last Twilio API call, each message's time from the commit to its API call
             (p50/p99), and how many creates the fake refused with 429.
With the rate at 100/s, 3,000 messages take 30 s (± 10 %) and meet no 429 — the run checks both (the
time only for a run expected to last 10 s or more: a small ``--units`` run is dominated by polling).
Status callbacks are on (``--no-callbacks`` loses them), so the gateway and notify take them meanwhile.

Setup, and what it bypasses (said plainly, since the figures do not include it):
  * the units are real: registered through the registry's ``register_unit`` RPC (active), many calls
    in flight at once (``call_async``), and their ``unit_registered`` events reach every service's
    directory copy as always; the run waits until the exchange and notify know all of them;
  * the sending unit, its clerk and its seal are real (identity, seal, as ``bench/seal.py`` makes them);
  * the recipients' 3,000 people and each unit's contacts filing are written straight into notify's
    own tables (``people``, ``unit_contacts``): the copies notify would hold after identity's
    ``user_created``/``user_approved`` and the registry's ``contacts_changed``. Identity holds no
    such accounts and the registry no such filing; making 3,000 real-name accounts (each with a
    device key) and 1,000 filings through the services would take most of an hour on 2 cores and
    measures none of what this benchmark is about. Nothing after ``send_document`` is bypassed;
  * the timer-lateness steps are rows written into notify's ``escalation_steps`` (as
    ``document_sent`` writes them), for the urgent document's real receipts;
  * the rate run's messages are rows written with ``gongwen_notify.delivery.queue_message``.
Usage: ``python bench/notify.py`` (1,000 units × 3 people), ``--units 50`` for a quick run."""
import warnings

warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")

import argparse  # noqa: E402
import base64  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import sqlite3  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from contextlib import closing  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlencode, urlsplit  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from exchange import db_path, query, utc  # noqa: E402
from rpc_roundtrip import percentiles  # noqa: E402
from seal import CLERK, OPERATOR, UNIT_CODE, issue_seal  # noqa: E402

RECIPIENT = "bench-sms-{:04d}"


def measure_floor(fake, calls):
    """Raw creates at the fake: the cost of the HTTP and the server alone."""
    url = urlsplit(fake.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    auth = base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
    path = f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    samples, started = [], time.perf_counter()
    for n in range(calls):
        body = urlencode({"To": f"+8613700{n % 100000:05d}0"[:14], "From": "+15005550007", "Body": f"floor {n}"})
        began = time.perf_counter()
        connection.request("POST", path, body, {"Authorization": f"Basic {auth}",
                                                "Content-Type": "application/x-www-form-urlencoded"})
        reply = connection.getresponse()
        reply.read()
        assert reply.status == 201, reply.status
        samples.append(time.perf_counter() - began)
    elapsed = time.perf_counter() - started
    connection.close()
    return {**percentiles(samples), "per_second": calls / elapsed}


# -- setup ------------------------------------------------------------------------------------


def register_units(cluster, codes: list[str], in_flight: int = 50) -> float:
    """Register (active) through the registry's RPC, ``in_flight`` calls outstanding at a time."""
    started, pending = time.monotonic(), []
    for n, code in enumerate(codes, start=1):
        pending.append(cluster.registry.register_unit.call_async(
            {"code": code, "name": f"基准短信接收单位{n:04d}", "kind": "department", "parent_code": None},
            actor=OPERATOR, active=True))
        if len(pending) >= in_flight or n == len(codes):
            for reply in pending:
                reply.result()
            pending = []
        if n % 200 == 0 or n == len(codes):
            print(f"  registered {n}/{len(codes)} units ({time.monotonic() - started:.1f}s)", flush=True)
    return time.monotonic() - started


def wait_known(work: Path, codes: list[str], services=("exchange", "notify"), timeout: float = 300) -> float:
    """Until each of ``services`` holds every unit as active in its directory copy."""
    started, wanted = time.monotonic(), set(codes)
    for service in services:
        while len(wanted & {c for (c,) in query(db_path(work, service),
                                                "SELECT code FROM unit_views WHERE status = 'active'")}) < len(wanted):
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{service} does not know all {len(wanted)} units after {timeout}s")
            time.sleep(0.5)
    return time.monotonic() - started


def mobile(unit: int, person: int, series: str = "139") -> str:
    return f"+86{series}{unit:05d}{person:03d}"


def seed_people(database_url, codes: list[str], people: int) -> None:
    """Each unit's people (its clerks, then its leader) and contacts filing as notify's copies (see the
    module's docstring)."""
    roles = ("clerk",) * (people - 1) + ("leader",)
    from sqlalchemy import create_engine

    from gongwen_common.db import Session
    from gongwen_notify.models import Person, UnitContacts

    engine, now = create_engine(database_url), datetime.now(UTC)
    with Session(engine) as session:
        for unit, code in enumerate(codes):
            ids = [f"bench-{unit:04d}-{n}" for n in range(people)]
            session.add_all(Person(user_id=user_id, name=f"基准{role}{unit:04d}", unit_code=code, roles=[role],
                                   status="active", mobile=mobile(unit, n), updated_at=now)
                            for n, (user_id, role) in enumerate(zip(ids, roles, strict=True)))
            session.add(UnitContacts(code=code, admin_user_id=None, leader_user_id=ids[-1],
                                     clerk_user_ids=[i for i, r in zip(ids, roles, strict=True) if r == "clerk"],
                                     deputy_leader_user_id=None, sms_enabled=True, version=1, updated_at=now))
        session.commit()
    engine.dispose()


# -- the urgent document, end to end ---------------------------------------------------------


def send_urgent(cluster, recipients: list[str]) -> tuple[float, float, dict]:
    """One 特急 document to every recipient; (wall time when the call returned, its duration, the answer)."""
    metadata = {"doc_number": f"穗测〔2026〕{uuid.uuid4().hex[:6]}号", "urgency": "extra_urgent", "secrecy": "none",
                "title": "关于立即做好寒潮大风天气防御工作的紧急通知", "signer": "张三",
                "main_recipients": recipients, "cc_recipients": [], "print_grants": {}}
    body = base64.b64encode("<p>各单位：寒潮来袭，请立即部署防御工作。</p>".encode()).decode()
    started = time.perf_counter()
    sent = cluster.exchange.send_document(metadata, body, "正文.html", [], CLERK)
    returned = time.time()
    if len(sent["receipts"]) != len(recipients):
        raise RuntimeError(f"{len(sent['receipts'])} receipts for {len(recipients)} recipients")
    return returned, time.perf_counter() - started, sent


def sms_calls(fake, total: int, deadline_s: float, since: float = 0.0) -> list[dict]:
    """The fake's accepted SMS creates, once there are ``total`` (its record, polled)."""
    deadline = time.monotonic() + deadline_s
    while True:
        accepted = [a for a in fake.record()["attempts"]
                    if a["kind"] == "sms" and a["outcome"] == "accepted" and a["at"] >= since]
        if len(accepted) >= total:
            return accepted
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(accepted)}/{total} SMS reached the fake Twilio in {deadline_s:.0f}s")
        time.sleep(1.0)


def measure_urgent(cluster, fake, work: Path, recipients: list[str], people: int) -> dict:
    fake.reset()
    total = len(recipients) * people
    returned, call_s, sent = send_urgent(cluster, recipients)
    accepted = sms_calls(fake, total, deadline_s=max(600.0, total / 2))  # a loaded machine is slow, not wrong
    ours = [a for a in accepted if a["at"] >= returned - call_s]
    if len(ours) != total or len({a["to"] for a in ours}) != total:
        raise RuntimeError(f"{len(ours)} SMS for {total} people (or one sent twice)")
    calls = sorted(a["at"] - returned for a in ours)
    queued = [(utc(created) - datetime.fromtimestamp(returned, UTC)).total_seconds() for (created,) in query(
        db_path(work, "notify"), "SELECT created_at FROM messages WHERE document_id = ?", sent["id"])]
    return {"document": sent, "send_call_s": call_s, "to_last_call_s": calls[-1], "first_call_s": calls[0],
            "call": percentiles(calls), "queued": percentiles(queued), "messages": total}


# -- escalation timers ------------------------------------------------------------------------


def schedule_steps(database_url, document: dict, count: int, spread: float, lead: float = 3.0) -> None:
    """``count`` steps due from ``lead`` s from now, evenly over ``spread`` s, for the document's
    receipts (one per receipt, round robin), each to the unit's leader by SMS."""
    from sqlalchemy import create_engine

    from gongwen_common.db import Session
    from gongwen_notify.models import EscalationStep

    engine, first = create_engine(database_url), datetime.now(UTC) + timedelta(seconds=lead)
    receipts = document["receipts"]
    with Session(engine) as session:
        for n in range(count):
            receipt = receipts[n % len(receipts)]
            session.add(EscalationStep(
                document_id=document["id"], receipt_id=receipt["receipt_id"], unit_code=receipt["unit_code"],
                step=100 + n // len(receipts), occurrence=0, audience="recipient_leader", channel="sms",
                template="reminder", urgent=True, status="pending",
                fire_at=first + timedelta(seconds=spread * n / max(1, count - 1))))
        session.commit()
    engine.dispose()


def measure_timers(work: Path, database_url, document: dict, count: int, spread: float) -> dict:
    schedule_steps(database_url, document, count, spread)
    deadline = time.monotonic() + spread + 120
    sql = ("SELECT fire_at, fired_at FROM escalation_steps WHERE document_id = ? AND step >= 100 "
           "AND status = 'fired'")
    while len(rows := query(db_path(work, "notify"), sql, document["id"])) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(rows)}/{count} escalation steps fired")
        time.sleep(0.5)
    late = [(utc(fired) - utc(due)).total_seconds() for due, fired in rows]
    return {"steps": count, "late": percentiles(late), "max_ms": max(late) * 1000, "early": sum(x < 0 for x in late)}


# -- the rate ---------------------------------------------------------------------------------


def queue_all(database_url, units, people) -> tuple[float, dict]:
    """The messages, committed at once; the commit's wall time and each message's reference → id."""
    from sqlalchemy import create_engine

    from gongwen_common.db import Session
    from gongwen_notify.delivery import queue_message

    engine = create_engine(database_url)
    references = {}
    with Session(engine, expire_on_commit=False) as session:
        now = datetime.now(UTC)
        for unit in range(units):
            for person in range(people):
                message = queue_message(session, channel="sms", to=mobile(unit, person, series="137"),
                                        body=f"【公文】单位{unit:04d}：特急文件 穗府办〔2026〕{unit}号 请即签收",
                                        unit_code=f"bench-{unit:04d}", now=now)
                references[message.reference] = message.id
        session.commit()
        committed = time.time()
    engine.dispose()
    return committed, references


def accepted_count(path: Path) -> int:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
        return db.execute("SELECT count(*) FROM messages WHERE provider_sid IS NOT NULL "
                          "AND document_id IS NULL").fetchone()[0]  # the rate run's (queue_all's)


def cpu_seconds(pid) -> float:
    """User and system CPU a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / 100, 1)


def wait_ready(stack, name, timeout=60.0):
    """Until a restarted service's timers run (its instance answers RPC: nameko started every entrypoint)."""
    from nameko.standalone.rpc import ClusterRpcProxy

    deadline = time.monotonic() + timeout
    with ClusterRpcProxy({"AMQP_URI": stack.amqp_uri}, timeout=5) as cluster:
        while True:
            try:
                return getattr(cluster, name).resolve_link("-")
            except Exception as exc:  # noqa: BLE001 — NOT_FOUND is the answer; anything else: not up yet
                if getattr(exc, "code", None) == "NOT_FOUND" or "NOT_FOUND" in str(exc):
                    return None
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.5)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=1000, help="recipient units (the exchange allows 1,000)")
    parser.add_argument("--people", type=int, default=3, help="people per unit: clerks, then the leader")
    parser.add_argument("--rate", type=float, default=100.0, help="the sender's rate in the rate run, per second")
    parser.add_argument("--floor-calls", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=300, help="escalation steps for the timer lateness")
    parser.add_argument("--spread", type=float, default=20.0, help="seconds over which those steps fall due")
    parser.add_argument("--no-callbacks", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.units <= 1000 or args.people < 2:
        parser.error("--units is 1 to 1,000 (the exchange's limit per document); --people at least 2")

    from gongwen_fake_twilio.launcher import FakeTwilioProcess

    from gongwen_local.keks import local_keks
    from gongwen_local.ports import free_port
    from gongwen_local.rabbitmq import RabbitNode
    from gongwen_local.stack import SERVICES, Stack

    work = Path(tempfile.mkdtemp(prefix="gongwen-bench-notify-"))
    print(f"work directory (logs, databases): {work}", flush=True)
    rabbit = RabbitNode(work / "rabbit", node_name=f"gwbench{uuid.uuid4().hex[:6]}")
    fake = FakeTwilioProcess(work / "log" / "fake-twilio.log")
    stack = None
    total = args.units * args.people
    recipients = [RECIPIENT.format(n) for n in range(args.units)]
    setup = {}
    try:
        rabbit.start()
        fake.start()
        # The urgent run is the pipeline's own speed: no sender rate (SMS_SEND_RATE=0, none at the fake).
        env = {**local_keks(work), **fake.env, "SMS_SEND_RATE": "0", "DELIVERY_BATCH": "200",
               "DELIVERY_CONCURRENCY": "16", "DELIVERY_POLL_INTERVAL": "0.2", "LOG_LEVEL": "WARNING"}
        databases = {s: f"sqlite:///{db_path(work, s)}" for s in SERVICES}
        stack = Stack(rabbit.amqp_uri(), databases, free_port(), work / "log", env=env)
        stack.start()

        floor = measure_floor(fake, args.floor_calls)
        if args.no_callbacks:
            fake.faults(callbacks={"mode": "lose"})

        import eventlet

        eventlet.monkey_patch()
        from nameko.standalone.rpc import ClusterRpcProxy

        with ClusterRpcProxy({"AMQP_URI": rabbit.amqp_uri()}, timeout=300) as cluster:
            started = time.monotonic()
            cluster.registry.register_unit({"code": UNIT_CODE, "name": "广州市人民政府办公厅", "kind": "department",
                                            "parent_code": None}, actor=OPERATOR, active=True)
            issue_seal(cluster)
            print(f"registering {len(recipients)} recipient units through the registry", flush=True)
            setup["register_s"] = round(register_units(cluster, recipients), 1)
            seed_people(databases["notify"], recipients, args.people)
            setup["known_s"] = round(wait_known(work, recipients), 1)
            setup["total_s"] = round(time.monotonic() - started, 1)
            print(f"setup done in {setup['total_s']} s; sending the urgent document", flush=True)
            urgent = measure_urgent(cluster, fake, work, recipients, args.people)
        print(f"urgent: the last of {total} SMS reached Twilio {urgent['to_last_call_s']:.2f} s after send_document "
              f"returned; measuring the escalation timers", flush=True)
        timers = measure_timers(work, databases["notify"], urgent["document"], args.steps, args.spread)
        while query(db_path(work, "notify"), "SELECT count(*) FROM messages WHERE status IN ('queued', 'sending')"
                    )[0][0]:
            time.sleep(0.5)  # what the timers queued is sent before the rate run begins

        print(f"rate: notify restarted with SMS_SEND_RATE={args.rate:g}; {total} messages queued", flush=True)
        stack.stop_service("notify")
        stack.start_service("notify", env={"SMS_SEND_RATE": str(args.rate)})
        wait_ready(stack, "notify")
        fake.reset()
        fake.faults(rate=args.rate, burst=max(1.0, args.rate), **({"callbacks": {"mode": "lose"}}
                                                                  if args.no_callbacks else {}))
        committed, references = queue_all(databases["notify"], args.units, args.people)
        deadline = time.monotonic() + max(300.0, 10 * total / args.rate)  # report a slow run, not a timeout
        while accepted_count(db_path(work, "notify")) < total:
            if time.monotonic() > deadline:
                raise TimeoutError("not every message reached Twilio in time")
            time.sleep(0.5)
        cpu = {f"{p.name}-{p.index}": cpu_seconds(p.process.pid) for p in stack.processes if p.alive}
        cpu["fake-twilio"] = cpu_seconds(fake.process.pid)
        record = fake.record()
        creates = [a for a in record["attempts"] if a["kind"] == "sms"]
        accepted = [a for a in creates if a["outcome"] == "accepted"]
        refused = [a for a in creates if a["outcome"] == 20429]
        ours = [m for m in record["messages"] if m["body"][-9:-1] in references]
        assert len(ours) == total == len({m["body"] for m in ours}), "a message missing or sent twice"
        last_call = max(a["at"] for a in creates) - committed
        latency = percentiles([a["at"] - committed for a in accepted])
    finally:
        if stack:
            stack.stop()
        fake.stop()
        rabbit.stop()

    expected = total / args.rate
    # ± 10 % of a run shorter than 10 s is less than the delivery timer's poll and a restart's jitter
    judged = expected >= 10
    within = abs(last_call - expected) <= 0.1 * expected or not judged
    floor_total = total / floor["per_second"]
    print(f"\nnotify, one broker, SQLite, 2-core machine: {args.units} units × {args.people} people = {total} SMS; "
          f"setup {setup['total_s']} s (registering {setup['register_s']} s)")
    print(f"{'measure':<46}{'p50 ms':>10}{'p99 ms':>10}{'rate/s':>10}{'total s':>10}")
    print(f"{'floor: raw HTTP create (sequential)':<46}{floor['p50']:>10.2f}{floor['p99']:>10.2f}"
          f"{floor['per_second']:>10.0f}{floor_total:>10.2f}   ({total} at that rate)")
    print(f"{'urgent: send_document returned → API call':<46}{urgent['call']['p50']:>10.0f}"
          f"{urgent['call']['p99']:>10.0f}{total / urgent['to_last_call_s']:>10.0f}{urgent['to_last_call_s']:>10.2f}"
          f"   (first at {urgent['first_call_s'] * 1000:.0f} ms)")
    queued = urgent["queued"]
    print(f"{'  of which: returned → message queued':<46}{queued['p50']:>10.0f}{queued['p99']:>10.0f}")
    print(f"{'  send_document itself (the call)':<46}{'':>10}{'':>10}{'':>10}{urgent['send_call_s']:>10.2f}")
    print(f"{'timers: fired − due (' + str(timers['steps']) + ' steps)':<46}{timers['late']['p50']:>10.0f}"
          f"{timers['late']['p99']:>10.0f}{'':>10}{'':>10}   (max {timers['max_ms']:.0f} ms, early: {timers['early']})")
    print(f"{'rate ' + format(args.rate, 'g') + '/s: queued → API call':<46}{latency['p50']:>10.0f}"
          f"{latency['p99']:>10.0f}{total / last_call:>10.0f}{last_call:>10.2f}")
    verdict = ("ok" if within else "OUT OF RANGE") if judged else "not judged: under 10 s"
    print(f"{total} messages at {args.rate:g}/s: the last API call {last_call:.2f} s after queueing (expected "
          f"{expected:.1f} s ± 10 %: {verdict}); 429s met: {len(refused)}")
    print("CPU seconds used by each process during the run:", json.dumps(cpu))
    print(json.dumps({"bench": "notify", "units": args.units, "people": args.people, "messages": total,
                      "setup_s": setup, "floor_ms": floor,
                      "urgent": {k: v for k, v in urgent.items() if k != "document"},
                      "timers": timers, "rate": args.rate, "to_last_call_s": round(last_call, 3),
                      "queued_to_call_ms": latency, "refused_429": len(refused), "within_10_percent": within,
                      "callbacks": not args.no_callbacks}, ensure_ascii=False))
    return 0 if within and not refused else 1


if __name__ == "__main__":
    sys.exit(main())
