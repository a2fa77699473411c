"""The exchange validates each request body it is forwarded, once, with its contract schema: the
gateway passes bodies (and the metadata part) as sent, so an unknown field or a body that is no
object is refused here."""
import pytest

from gongwen_exchange.models import Receipt


@pytest.mark.parametrize("body, field", [({"x-unknown": 1}, "x-unknown"), (["not", "an", "object"], "_schema")])
def test_the_exchange_refuses_a_forwarded_body_its_contract_schema_refuses(exchange, body, field):
    exchange.units("gz-fgw", "a1", sealed=("gz-fgw",))
    doc = exchange.send(main=("a1",), cc=())["id"]
    before = [(r.id, r.state) for r in exchange.session.query(Receipt)]
    sender, receiver = exchange.clerk("gz-fgw"), exchange.clerk("a1")
    for method, actor in (("seal_document", sender), ("register", receiver), ("return_document", receiver),
                          ("request_print_copies", receiver), ("request_resend", receiver), ("resend", sender),
                          ("paper_delivery", sender)):
        refusal = exchange.refused(method, doc, body, actor)
        assert (refusal.code, refusal.status) == ("VALIDATION_ERROR", 400), method
        assert field in refusal.fields, (method, refusal.fields)
    refusal = exchange.refused("load_calendar", 2027, body, {"user_id": "op", "roles": ["operator"]})
    assert field in refusal.fields
    metadata = body if isinstance(body, list) else {**body, "title": "x"}
    refusal = exchange.refused("send_document", metadata, "", "body", [], sender)
    assert refusal.code == "VALIDATION_ERROR" and "metadata" in refusal.fields
    assert [(r.id, r.state) for r in exchange.session.query(Receipt)] == before
