"""A text's short link: a code nobody can guess (12 symbols of 32: 60 bits, from ``secrets``), and
one that expires (``NOTIFY_LINK_TTL`` after the send) answers as an unknown one does."""

from gongwen_notify.models import TrackedDocument


def test_a_short_link_expires_after_its_ttl_and_then_answers_as_an_unknown_code(make_notify):
    notify = make_notify(NOTIFY_LINK_TTL="7d")
    notify.unit("r1")
    document_id, _ = notify.send("sender", ["r1"])
    code = notify.session.get(TrackedDocument, document_id).link_code
    assert len(code) == 12 and set(code) <= set("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
    assert notify.call("resolve_link", code) == {"document_id": document_id}
    notify.clock.advance(days=7, seconds=-1)
    assert notify.call("resolve_link", code) == {"document_id": document_id}
    notify.clock.advance(seconds=1)
    expired, unknown = notify.refused("resolve_link", code), notify.refused("resolve_link", "ABCDEFGHJKLM")
    assert (expired.code, expired.status, expired.message) == (unknown.code, unknown.status, unknown.message) == \
        ("NOT_FOUND", 404, "no such link")
