"""An SMS's short link leads to its document (real services, broker, PostgreSQL and the fake
Twilio): the text an urgent send puts on a phone carries ``<gateway>/l/<code>``; a phone's
browser follows it without a token and is redirected (303) to the document, which still takes a
signed-in user who may see it; a code nobody was sent — malformed, unknown, too long — is the same
404 ``NOT_FOUND``, never a 5xx, so nothing tells codes apart."""
import re
import uuid

import requests

from conftest import Databases, operator_login, wait_until
from tests.test_notifications import reachable_unit, sealed_sender, send_urgent


def test_an_urgent_texts_short_link_redirects_to_its_document_and_a_garbage_code_is_not_found(stack, fake_twilio):
    operator, dbs, tag = operator_login(stack), Databases(stack), uuid.uuid4().hex[:6]
    _, clerk = sealed_sender(stack, operator, tag)
    recipient = f"l-{tag}"
    people = reachable_unit(stack, operator, recipient, "收文单位")
    document = send_urgent(clerk, [recipient], f"穗府办〔2026〕{tag}号")

    numbers = wait_until(lambda: len(rows := dbs.rows("notify", "SELECT \"to\" FROM messages WHERE document_id = :d",
                                                      d=document["id"])) == 2 and {to for (to,) in rows},
                         timeout=60, message="the clerk's and the leader's SMS queued")
    texts = wait_until(lambda: len(found := [m["body"] for m in fake_twilio.record()["messages"]
                                             if m["to"] in numbers]) == 2 and found,
                       timeout=60, message="both SMS at the fake Twilio")
    link = re.compile(re.escape(stack.gateway_url) + r"/l/([A-Z0-9]+)")
    codes = {match.group(1) for text in texts if (match := link.search(text))}
    assert len(codes) == 1, texts  # both texts carry the document's one link
    [code] = codes
    assert len(code) == 12  # 60 bits (32 symbols): not found by guessing

    followed = requests.get(f"{stack.gateway_url}/l/{code}", allow_redirects=False, timeout=30)
    assert followed.status_code == 303, followed.text
    assert followed.headers["Location"] == f"/api/v1/documents/{document['id']}"
    assert followed.headers["Cache-Control"] == "no-store"
    # The link grants nothing: the document is the recipient's to read, signed in; nobody else's.
    shown = people["clerk"].api.get(followed.headers["Location"])
    assert shown.status_code == 200 and shown.json()["id"] == document["id"], shown.text
    assert requests.get(stack.gateway_url + followed.headers["Location"], timeout=30).status_code == 401

    answers = []
    for garbage in ("AAAAAAAAAAAA", code.lower(), code + "A", "A" * 17, "%00", "<script>", "A%2F..%2Fme"):
        reply = requests.get(f"{stack.gateway_url}/l/{garbage}", allow_redirects=False, timeout=30)
        assert reply.status_code == 404, (garbage, reply.status_code, reply.text)
        answers.append((reply.json()["error"], reply.json()["message"], "Location" in reply.headers))
    assert all(error == "NOT_FOUND" and not redirected for error, _, redirected in answers), answers
    assert answers[:4] == [("NOT_FOUND", "no such link", False)] * 4  # unknown and malformed: one answer
