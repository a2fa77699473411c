"""Supervision as systemd would do it, and graceful shutdown, with real processes.

- ``make run``'s supervisor (``Stack.supervise``, the same code the tests use) restarts a process
  that exits unexpectedly, with a doubling backoff that resets after a stable run, leaves it down
  after its start limit, and never undoes an operator's stop; each exit and restart is a JSON line.
- SIGTERM stops a service gracefully: it stops consuming, finishes its in-flight workers and
  exits within ``SHUTDOWN_TIMEOUT`` (cut off after it; a second SIGTERM does not deadlock).
- ``kill -9`` of each service in turn (and the gateway) while department systems send 1,000
  sealed documents, retrying with the same Idempotency-Key as a real client does: the supervisor
  brings each back, and nothing is lost or doubled; every receipt is consistent. On ``make run``'s
  SQLite default too: ``kill -9`` of the exchange loses no document it answered for.
"""
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests
from nameko.exceptions import UnknownService
from nameko.standalone.rpc import ClusterRpcProxy

from conftest import Databases, active_unit, operator_login, person, wait_until, when_known
from gongwen_common.probe import file_age
from gongwen_local.stack import SERVICES, RestartPolicy, ServiceProcess, Stack, Supervisor

DOCUMENTS = int(os.environ.get("GONGWEN_SUPERVISION_DOCUMENTS", "1000"))
SENDERS = 8
BOUND = 15  # SHUTDOWN_TIMEOUT of the supervised stack: a busy machine stops slowly
FAST_RESTARTS = RestartPolicy(initial=0.2, maximum=2.0, stable_after=20.0, burst=10, interval=300.0)


# -- the supervisor on plain processes (its clock is the ``now`` it is given) ------------------

def exiting_process(tmp_path, code=3) -> ServiceProcess:
    return ServiceProcess("crashy", 0, [sys.executable, "-c", f"import sys; sys.exit({code})"], dict(os.environ),
                          tmp_path / "crashy.log")


def bare_stack(tmp_path, *processes, policy=RestartPolicy(initial=1, maximum=8, stable_after=60, burst=4,
                                                          interval=300)) -> Stack:
    return Stack("memory://", {}, 0, tmp_path, processes=list(processes), restart_policy=policy)


def exited(proc):
    proc.process.wait(10)
    return proc


def test_a_process_that_exits_is_restarted_with_a_doubling_backoff_until_its_start_limit(tmp_path, caplog):
    proc = exiting_process(tmp_path)
    stack = bare_stack(tmp_path, proc)
    proc.start()
    now = proc.started_at
    delays = []
    caplog.set_level(logging.INFO, logger="gongwen_local.supervisor")
    for _ in range(4):
        exited(proc)
        [found] = stack.supervise(now)
        assert found["event"] == "service_exited" and found["exit_code"] == 3, found
        delays.append(found["restart_in_seconds"])
        assert stack.supervise(now + found["restart_in_seconds"] - 0.01) == []  # not before its time
        now += found["restart_in_seconds"]
        [restarted] = stack.supervise(now)
        assert restarted["event"] == "service_restarted" and restarted["pid"] == proc.pid
    assert delays == [1, 2, 4, 8]
    exited(proc)
    [gave_up] = stack.supervise(now)
    assert gave_up["event"] == "service_failed" and stack.failed() == [proc]
    assert stack.supervise(now + 3600) == [] and not proc.alive  # left down, reported
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "gongwen_local.supervisor"]
    assert [line["event"] for line in lines] == ["service_exited", "service_restarted"] * 4 + ["service_failed"]
    assert all(line["service"] == "crashy" and line["instance"] == 0 for line in lines)


def test_the_backoff_starts_again_from_its_first_step_after_a_stable_run(tmp_path):
    proc = exiting_process(tmp_path)
    stack = bare_stack(tmp_path, proc)
    proc.start()
    exited(proc)
    now = proc.started_at + 1
    assert stack.supervise(now)[0]["restart_in_seconds"] == 1
    now += 1
    stack.supervise(now)
    exited(proc)
    assert stack.supervise(now + 1)[0]["restart_in_seconds"] == 2  # failed again soon: doubled
    stack.supervise(now + 3)
    exited(proc)
    assert stack.supervise(proc.started_at + 61)[0]["restart_in_seconds"] == 1  # it had run 61 s


def test_an_operators_stop_is_never_undone_by_the_supervisor(tmp_path):
    sleeper = ServiceProcess("sleepy", 0, [sys.executable, "-c", "import time; time.sleep(60)"], dict(os.environ),
                             tmp_path / "sleepy.log")
    crashed = exiting_process(tmp_path)
    stack = bare_stack(tmp_path, sleeper, crashed)
    sleeper.start()
    crashed.start()
    exited(crashed)
    assert stack.supervise()[0]["event"] == "service_exited"  # a restart is pending …
    stack.stop()                                                # … when the operator stops everything
    assert stack.supervise(time.monotonic() + 3600) == []
    assert not sleeper.alive and not crashed.alive


def test_a_process_that_exits_cleanly_on_its_own_is_left_stopped_as_on_failure_says(tmp_path):
    proc = exiting_process(tmp_path, code=0)  # e.g. SIGTERM from outside: nameko stops gracefully and exits 0
    stack = bare_stack(tmp_path, proc)
    proc.start()
    exited(proc)
    [stopped] = stack.supervise()
    assert stopped["event"] == "service_stopped" and stopped["exit_code"] == 0
    assert stack.supervise(time.monotonic() + 3600) == [] and not proc.alive


def test_a_running_process_that_stops_beating_is_killed_then_restarted_as_a_failure(tmp_path):
    """Kubernetes' liveness probe, for ``make run``: a heartbeat's age is moved (its file's time),
    not waited for; so is the supervisor's clock."""
    beats = tmp_path / "beats"
    beats.mkdir()
    beating, silent = (ServiceProcess(name, 0, [sys.executable, "-c", "import time; time.sleep(120)"],
                                      dict(os.environ), tmp_path / f"{name}.log", heartbeat=beats / f"{name}.alive")
                       for name in ("beating", "silent"))
    stack = bare_stack(tmp_path, beating, silent)
    hung_after = stack.restart_policy.hung_after
    beating.start()
    silent.start()  # never touches its heartbeat: hung once it has had hung_after to start
    beating.heartbeat.touch()
    now = max(beating.started_at, silent.started_at)
    assert stack.supervise(now + hung_after - 1) == []  # the silent one is still within its start
    [hung] = stack.supervise(now + hung_after + 1)
    assert (hung["event"], hung["service"], hung["heartbeat_age_seconds"]) == ("service_hung", "silent", None)
    assert not silent.alive and beating.alive
    silent.wanted = False  # its restart is the ordinary failure path, shown below with the other

    stale = time.time() - 2 * hung_after
    os.utime(beating.heartbeat, (stale, stale))  # its event loop stopped beating a minute ago
    [hung] = stack.supervise(now + hung_after + 2)
    assert hung["event"] == "service_hung" and hung["heartbeat_age_seconds"] >= 2 * hung_after - 1
    [exited] = stack.supervise(now + hung_after + 3)
    assert (exited["event"], exited["service"], exited["exit_code"]) == ("service_exited", "beating", -signal.SIGKILL)
    [restarted] = stack.supervise(now + hung_after + 3 + exited["restart_in_seconds"])
    assert restarted["event"] == "service_restarted" and beating.alive and restarted["pid"] != hung["pid"]
    stack.stop()


def test_every_process_beats_in_its_own_file_and_a_wedged_one_is_restarted(supervised):
    stack, supervisor, *_ = supervised
    beats = [p.heartbeat for p in stack.processes]
    assert len(set(beats)) == len(stack.processes) and None not in beats
    wait_until(lambda: all((file_age(b) or 99) < 15 for b in beats), timeout=30, message="every process to beat")
    [victim] = stack.of("registry")
    pid = victim.pid
    os.kill(pid, signal.SIGSTOP)  # its event loop wedged: running, answering nothing, beating no more
    stale = time.time() - 2 * stack.restart_policy.hung_after
    os.utime(victim.heartbeat, (stale, stale))
    records = stack.supervise(time.monotonic() + stack.restart_policy.hung_after) + supervisor.records
    assert any(r["event"] == "service_hung" and r["pid"] == pid for r in records), records[-5:]
    wait_until(lambda: victim.alive and victim.pid != pid and (file_age(victim.heartbeat) or 99) < 10,
               timeout=60, message="the supervisor to restart the wedged registry")
    stack.wait_healthy(timeout=90)


# -- SIGTERM: graceful, bounded ----------------------------------------------------------------

SLOW_SERVICE = '''
import eventlet
from nameko.rpc import rpc
from gongwen_common.shutdown import ShutdownBound

class Slow:
    name = "{name}"
    shutdown_bound = ShutdownBound()

    @rpc
    def work(self, seconds):
        eventlet.sleep(seconds)  # a worker busy on something that takes this long
        return "done"
'''


def answers(service):
    try:
        return service.work(0) == "done"
    except UnknownService:  # its queue is not there yet
        return False


def test_sigterm_finishes_in_flight_workers_and_cuts_off_at_the_bound_even_when_repeated(rabbit, tmp_path):
    name = f"slow_{uuid.uuid4().hex[:8]}"
    (tmp_path / "slow.py").write_text(SLOW_SERVICE.format(name=name))
    config = tmp_path / "config.yaml"
    config.write_text(f"AMQP_URI: '{rabbit.amqp_uri()}'\nSHUTDOWN_TIMEOUT: 4\n")
    log_path = tmp_path / "slow.log"
    with open(log_path, "wb") as out:
        service = subprocess.Popen([sys.executable, "-m", "nameko", "run", "--config", str(config), "slow:Slow"],
                                   cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONPATH": str(tmp_path)})
    try:
        with ClusterRpcProxy({"AMQP_URI": rabbit.amqp_uri()}, timeout=60) as cluster:
            wait_until(lambda: answers(cluster[name]), timeout=60, message="the service to answer")
            short, stuck = cluster[name].work.call_async(1), cluster[name].work.call_async(600)
            time.sleep(0.3)  # both calls are being worked on
            signalled = time.monotonic()
            service.send_signal(signal.SIGTERM)
            service.send_signal(signal.SIGTERM)  # nameko alone would start a second stop, and deadlock
            assert short.result() == "done"  # the in-flight worker finished and answered
            code = service.wait(15)
            took = time.monotonic() - signalled
            del stuck
    finally:
        if service.poll() is None:
            service.kill()
    assert code == 75 and 3.5 < took < 8, (code, took, log_path.read_text()[-2000:])
    assert "graceful stop exceeded its bound" in log_path.read_text()


# -- the suite under supervision ---------------------------------------------------------------

class Senders:
    """Department-system clients sending ``count`` sealed documents from ``threads`` threads, each
    document under its own Idempotency-Key and sent again with it after any failure (a 5xx, a
    refused or dropped connection), until it is answered 201."""

    def __init__(self, stack, clerk_token, sender_code, recipient, tag):
        self.stack, self.token, self.sender, self.recipient, self.tag = stack, clerk_token, sender_code, recipient, tag
        self.answers, self.retries, self.refused = {}, 0, []
        self._lock = threading.Lock()

    def metadata(self, n):
        return {"doc_number": f"穗监〔2026〕{self.tag}{n:05d}号", "title": "关于做好值班工作的通知", "signer": "李四",
                "urgency": "normal", "secrecy": "none", "main_recipients": [self.recipient]}

    def send_one(self, http, n):
        data = {"metadata": json.dumps(self.metadata(n), ensure_ascii=False)}
        headers = {"Idempotency-Key": f"{self.tag}-{n}", "Authorization": f"Bearer {self.token}"}
        body = f"<p>第{n}号</p>".encode()
        while True:
            try:
                reply = http.post(f"{self.stack.gateway_url}/api/v1/documents", data=data, headers=headers,
                                  files=[("body", ("正文.html", body))], timeout=90)
            except requests.RequestException:
                reply = None
            if reply is not None and reply.status_code == 201:
                with self._lock:
                    self.answers[n] = reply.json()
                return
            if reply is not None and reply.status_code < 500 and \
                    reply.json().get("error") not in ("IDEMPOTENCY_KEY_IN_USE", "SERVICE_UNAVAILABLE"):
                with self._lock:
                    self.refused.append((n, reply.status_code, reply.text))
                return
            with self._lock:
                self.retries += 1
            time.sleep(0.2)

    def run(self, numbers):
        work = iter(numbers)
        lock = threading.Lock()

        def sender():
            http = requests.Session()
            while True:
                with lock:
                    n = next(work, None)
                if n is None:
                    return
                self.send_one(http, n)

        threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
        for thread in threads:
            thread.start()
        return threads


def supervised_stack(rabbit, postgres, test_var, fake_twilio, **kwargs):
    """A stack under :class:`Supervisor`, with a sending unit (its clerk holds the seal) and a receiving one."""
    from conftest import StackFactory

    factory = StackFactory(rabbit, postgres, test_var / "logs", env={**fake_twilio.env, "SHUTDOWN_TIMEOUT": str(BOUND)})
    try:
        stack = factory(**kwargs)
        stack.restart_policy = FAST_RESTARTS
        operator = operator_login(stack)
        tag = uuid.uuid4().hex[:6]
        sender = active_unit(operator, f"sv-{tag}", "广州市人民政府办公厅")["code"]
        clerk = person(stack, operator, sender, "clerk")
        applied = when_known(lambda: operator.post("/api/v1/seals", json={
            "unit_code": sender, "custody": {"required_approvals": 1, "custodian_user_ids": [clerk.user_id]}}),
            message="the seal service to know the unit")
        assert operator.post(f"/api/v1/seals/{applied.json()['serial']}/approve").status_code == 200
        recipient = active_unit(operator, f"rv-{tag}", "收文单位")["code"]
        token = clerk.api.http.headers["Authorization"].split()[1]
        probe = Senders(stack, token, sender, recipient, f"p{tag}")
        wait_until(lambda: probe.send_one(requests.Session(), 0) or probe.answers, timeout=60,
                   message="the exchange to know both units")
        with Supervisor(stack, interval=0.1) as supervisor:
            yield stack, supervisor, token, sender, recipient
    finally:
        factory.close()


@pytest.fixture(scope="module")
def supervised(rabbit, postgres, test_var, fake_twilio):
    yield from supervised_stack(rabbit, postgres, test_var, fake_twilio, scale={"exchange": 2})


@pytest.fixture(scope="module")
def supervised_on_sqlite(rabbit, postgres, test_var, fake_twilio):
    """``make run``'s default: one instance each, every service on its own SQLite file (WAL, ``synchronous=NORMAL``)."""
    yield from supervised_stack(rabbit, postgres, test_var, fake_twilio, sqlite=True)


def check_documents(stack, senders, numbers):
    """Each number sent once, with one delivered receipt, and every event through to the archive."""
    dbs = Databases(stack)
    assert senders.refused == []
    assert sorted(senders.answers) == sorted(numbers)
    # SQL that PostgreSQL and SQLite both read: the suite runs on either
    rows = dbs.rows("exchange", "SELECT d.id, d.doc_number, count(r.id), min(r.state), max(r.state), "
                                "min(r.unit_code), min(CASE WHEN r.latest THEN 1 ELSE 0 END) FROM documents d "
                                "LEFT JOIN receipts r ON r.document_id = d.id "
                                "WHERE d.issuer_code = :s AND d.doc_number LIKE :t GROUP BY d.id, d.doc_number",
                    s=senders.sender, t=f"%{senders.tag}%")
    assert len(rows) == len(numbers), f"{len(rows)} documents stored for {len(numbers)} sent"
    assert len({doc_number for _, doc_number, *_ in rows}) == len(numbers)  # none doubled
    assert {a["id"] for a in senders.answers.values()} == {doc_id for doc_id, *_ in rows}
    assert {(count, low, high, unit, latest) for _, _, count, low, high, unit, latest in rows} == \
        {(1, "delivered", "delivered", senders.recipient, 1)}
    ids = {doc_id for doc_id, *_ in rows}
    wait_until(lambda: dbs.scalar("exchange", "SELECT count(*) FROM outbox_events WHERE sent_at IS NULL") == 0,
               timeout=90, message="the exchange's outbox to drain")

    def ledgered():
        return [d for (d,) in dbs.rows("archive", "SELECT document_id FROM ledger_entries "
                                                  "WHERE event_type = 'document_sent'") if d in ids]
    wait_until(lambda: set(ledgered()) == ids, timeout=120, message="every document_sent in the ledger")
    assert len(ledgered()) == len(ids)  # each once


def test_sigterm_of_an_exchange_instance_during_sends_answers_every_request_and_exits_within_the_bound(supervised):
    stack, supervisor, token, sender, recipient = supervised
    senders = Senders(stack, token, sender, recipient, f"t{uuid.uuid4().hex[:5]}")
    numbers = range(1, 121)
    threads = senders.run(numbers)
    wait_until(lambda: len(senders.answers) >= 30, timeout=120, message="sends under way")
    [first, _] = stack.of("exchange")
    signalled = time.monotonic()
    first.terminate()  # the operator's stop (make run's, systemd's, Kubernetes')
    first.process.wait(BOUND + 10)
    took = time.monotonic() - signalled
    for thread in threads:
        thread.join(300)
    # 0: it finished on its own (cut off at the bound it would exit 75), and within the bound
    assert first.process.returncode == 0 and took < BOUND + 1, (first.process.returncode, took)
    assert senders.retries == 0  # no request failed: in-flight ones finished, queued ones went to the other
    check_documents(stack, senders, numbers)
    assert not any(r["service"] == "exchange" and r["instance"] == first.index for r in supervisor.records)
    stack.start_service("exchange", instances=1)


def kill_9(stack, supervisor, name):
    """``kill -9`` of the service's first instance, as a crash would; back when the supervisor restarted it."""
    victim = stack.of(name)[0]
    os.killpg(victim.pid, signal.SIGKILL)  # not victim.kill(): that is an operator's stop
    wait_until(lambda: victim.alive and any(r["event"] == "service_restarted" and r["service"] == name and
                                            r["instance"] == victim.index for r in supervisor.records[-20:]),
               timeout=60, message=f"the supervisor to restart {name}")


@pytest.mark.timeout(900)  # 1,000 sealed documents and seven restarts: minutes on a shared 2-core machine
def test_kill_9_of_each_service_in_turn_during_a_thousand_documents_loses_and_doubles_nothing(supervised):
    stack, supervisor, token, sender, recipient = supervised
    earlier = len(supervisor.records)  # the module's other tests restart processes too
    senders = Senders(stack, token, sender, recipient, f"k{uuid.uuid4().hex[:5]}")
    numbers = range(1, DOCUMENTS + 1)
    started = time.monotonic()
    threads = senders.run(numbers)
    victims = [*SERVICES, "gateway"]
    for turn, name in enumerate(victims, start=1):
        wanted = DOCUMENTS * turn // (len(victims) + 1)
        wait_until(lambda: len(senders.answers) >= wanted, timeout=300,  # noqa: B023 - waited on at once
                   message=f"sends before killing {name}")
        kill_9(stack, supervisor, name)
        print(f"  {len(senders.answers)} sent, {name} killed and restarted ({time.monotonic() - started:.0f}s)",
              flush=True)
    for thread in threads:
        thread.join(600)
    elapsed = time.monotonic() - started
    print(f"  all {DOCUMENTS} answered ({elapsed:.0f}s)", flush=True)
    check_documents(stack, senders, numbers)
    assert stack.failed() == []
    exits = [r for r in supervisor.records[earlier:] if r["event"] == "service_exited"]
    assert sorted(r["service"] for r in exits) == sorted(victims) and all(r["exit_code"] == -9 for r in exits)
    print(f"{DOCUMENTS} documents, {len(victims)} kill -9s, {senders.retries} retries, answered in {elapsed:.1f}s, "
          f"checked in {time.monotonic() - started - elapsed:.1f}s")


def test_every_document_answered_on_sqlite_survives_kill_9_of_the_exchange(supervised_on_sqlite):
    """SQLite does not fsync each commit (``synchronous=NORMAL``): the WAL holds every commit a service
    answered, so ``kill -9`` of the exchange mid-burst loses no document it answered 201 for (README)."""
    stack, supervisor, token, sender, recipient = supervised_on_sqlite
    assert stack.database_urls["exchange"].startswith("sqlite:///")
    senders = Senders(stack, token, sender, recipient, f"q{uuid.uuid4().hex[:5]}")
    numbers = range(1, 201)
    threads = senders.run(numbers)
    wait_until(lambda: len(senders.answers) >= 60, timeout=120, message="sends under way")
    answered_before_the_kill = set(senders.answers)
    kill_9(stack, supervisor, "exchange")
    for thread in threads:
        thread.join(300)
    check_documents(stack, senders, numbers)  # the ones answered before the kill among them
    print(f"{len(answered_before_the_kill)} answered before the kill -9, {senders.retries} retries after it")
