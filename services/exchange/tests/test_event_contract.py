"""The exchange's and the seal service's events are what their contracts say: those a document's
life emits load with the schema of their type (worker level, no broker)."""
from sqlalchemy import select

from gongwen_common.tables import OutboxEvent
from gongwen_contracts.events import load_event_data


def emitted(session) -> list[tuple[str, dict]]:
    rows = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
    return [(row.event_type, row.payload["data"]) for row in rows]


def test_the_events_of_a_documents_life_load_with_their_contract_schemas(exchange):
    exchange.units("gz-fgw", "a1", "a2", sealed=("gz-fgw",))
    doc = exchange.send(main=("a1", "a2"), cc=())["id"]
    exchange.download(doc, "body", "a1")
    exchange.call("sign_for", doc, exchange.clerk("a1"))
    exchange.call("register", doc, {"registration_number": "收文〔2026〕1"}, exchange.clerk("a1"))
    exchange.call("return_document", doc, {"reason": "不属于本单位"}, exchange.clerk("a2"))
    events = emitted(exchange.session)
    assert {event_type for event_type, _ in events} >= {"document_sent", "document_read", "receipt_signed",
                                                        "receipt_registered", "document_returned"}
    for event_type, data in events:
        assert load_event_data("exchange", event_type, data)["id"] == doc
    seal_events = emitted(exchange.seal.session)
    assert "seal_used" in {event_type for event_type, _ in seal_events}
    for event_type, data in seal_events:
        load_event_data("seal", event_type, data)
