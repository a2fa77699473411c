"""orjson on the wire keeps kombu's JSON meaning: what a process with kombu's own serializer sends, this
one reads the same, and the other way round (a standalone client need not install it)."""
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from kombu.serialization import dumps as kombu_dumps
from kombu.serialization import loads as kombu_loads
from kombu.utils import json as kombu_json

from gongwen_common import serialization

VALUES = [
    {"items": [{"title": "关于开展测试工作的紧急通知", "n": 1, "ok": True, "none": None, "ratio": 0.25}],
     "next_cursor": None},
    {"at": datetime(2026, 12, 2, 2, 0, tzinfo=UTC), "day": date(2026, 12, 2), "amount": Decimal("1.10")},
    {"data": b"\x00\xffbinary", "text": b"plain"},
    {"big": 2**70 + 1, "keys": {1: "one"}},  # not a float's: orjson alone reads it as 1.1805916207174113e+21
    {"user_id": 9999999999999999999999999999999999999999999999999999999999999998, "at_limit": 2**63 - 1,
     "negative": -(2**64) - 3, "in_a_text": "12345678901234567890123"},
    ["\ud800 a lone surrogate"],
    {"text": "通知 \u2028 \\ \"quoted\" \u0000"},
    [],
    "just a string",
]


@pytest.mark.parametrize("value", VALUES)
def test_what_kombus_own_json_reads_and_writes_is_read_and_written_the_same(value):
    expected = kombu_json.loads(kombu_json.dumps(value))
    assert serialization.loads(serialization.dumps(value)) == expected  # ours to ours
    assert kombu_json.loads(serialization.dumps(value)) == expected  # ours to a plain kombu process
    assert serialization.loads(kombu_json.dumps(value)) == expected  # a plain kombu process to ours
    assert serialization.loads(kombu_json.dumps(value).encode()) == expected
    assert repr(serialization.loads(kombu_json.dumps(value))) == repr(expected)  # ints stay ints, exactly


def test_a_text_holding_a_lone_surrogate_itself_is_read_as_kombu_reads_it():
    text = '["\ud800"]'  # not the escape: the character, as only a Python caller could hand it over
    assert serialization.loads(text) == kombu_json.loads(text)


def test_the_json_serializer_that_nameko_and_the_relay_name_is_orjson_in_every_process():
    content_type, encoding, body = kombu_dumps({"title": "通知"}, serializer="json")
    assert (content_type, encoding) == ("application/json", "utf-8")
    assert body == '{"title":"通知"}'.encode()  # orjson's: compact and UTF-8, not \\u escapes
    assert kombu_loads(body, content_type, encoding) == {"title": "通知"}


def test_a_response_body_is_utf8_json_and_str_of_what_json_lacks():
    body = serialization.response_body({"title": "通知", "at": datetime(2026, 12, 2, tzinfo=UTC)})
    assert body.decode() == '{"title":"通知","at":"2026-12-02 00:00:00+00:00"}'
    # what orjson refuses, the standard library writes
    assert serialization.response_body({"n": 2**70}) == b'{"n": 1180591620717411303424}'
