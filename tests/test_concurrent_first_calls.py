"""Simultaneous first calls on the real stack (PostgreSQL): one Idempotency-Key performs once
and every caller gets the same answer; one unit code is registered once; never a 5xx."""
import uuid

from conftest import Databases, active_unit, at_once, operator_login, register, when_known
from tests.test_documents import sealed_unit, send, twin


def simultaneously(api, n, request):
    """``request(own_api)`` from ``n`` threads released together, each on its own connection."""
    return at_once([lambda own=twin(api): request(own) for _ in range(n)])


def test_twenty_simultaneous_sends_with_one_key_seal_and_send_one_document(stack):
    operator, dbs = operator_login(stack), Databases(stack)
    issuer, clerk = sealed_unit(stack, operator)
    recipient = active_unit(operator, f"r-{uuid.uuid4().hex[:6]}")["code"]
    tag = uuid.uuid4().hex[:6]
    metadata = {"doc_number": f"穗府办〔2026〕{tag}号", "title": "关于同时重试的通知", "signer": "李四",
                "urgency": "normal", "secrecy": "none", "main_recipients": [recipient], "cc_recipients": []}
    # The exchange must know both units before the race starts (events travel): a first document.
    first = when_known(lambda: send(clerk, {**metadata, "doc_number": f"穗府办〔2026〕{tag}0号"}))
    assert first.status_code == 201, first.text
    uses = dbs.scalar("seal", "SELECT count(*) FROM seal_uses")

    key = uuid.uuid4().hex
    replies = simultaneously(clerk, 20, lambda own: send(own, metadata, key=key))

    assert [r.status_code for r in replies] == [201] * 20, [(r.status_code, r.text[:200]) for r in replies]
    assert len({r.content for r in replies}) == 1  # twenty identical answers
    assert dbs.scalar("exchange", "SELECT count(*) FROM documents WHERE issuer_code = :c AND doc_number = :n",
                      c=issuer, n=metadata["doc_number"]) == 1
    assert dbs.scalar("seal", "SELECT count(*) FROM seal_uses") == uses + 1


def test_two_simultaneous_registrations_of_one_code_make_one_unit_and_no_error(stack):
    operator, dbs = operator_login(stack), Databases(stack)

    keyed, key = f"race-k-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    same_key = simultaneously(operator, 2, lambda own: register(own, keyed, key))
    assert [r.status_code for r in same_key] == [201, 201], [r.text for r in same_key]
    assert same_key[0].json() == same_key[1].json()  # the loser has the winner's answer

    keyless = f"race-{uuid.uuid4().hex[:6]}"
    no_key = simultaneously(operator, 2, lambda own: register(own, keyless))
    assert sorted(r.status_code for r in no_key) == [201, 409], [r.text for r in no_key]
    assert [r.json()["error"] for r in no_key if r.status_code == 409] == ["UNIT_CODE_TAKEN"]

    for code in (keyed, keyless):
        assert dbs.scalar("registry", "SELECT count(*) FROM units WHERE code = :c", c=code) == 1
        assert dbs.scalar("registry", "SELECT count(*) FROM outbox_events WHERE event_type = 'unit_registered' "
                                      "AND payload::text LIKE :c", c=f'%"{code}"%') == 1
