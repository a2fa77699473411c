"""JSON on the wire (RPC requests and replies, events), encoded and decoded by orjson.

kombu's own "json" serializer is the standard library's, with an object hook on every dict it decodes;
a 50-item inbox page was encoded by the exchange, decoded by the gateway and encoded again for the
client, about a third of a poll's CPU (issue 15). orjson does each in a tenth of the time. The bytes are
still JSON (``application/json``, UTF-8), so a process without this (a standalone client) reads them,
and kombu's meaning is kept exactly: values kombu tags (datetimes, decimals, bytes, as
``{"__type__": …, "__value__": …}``) are tagged the same way, a payload carrying a tag is decoded by
kombu itself, and anything orjson refuses or would read otherwise (an integer beyond 64 bits, a
lone surrogate) goes to kombu.
"""
import json

import orjson
from kombu.serialization import registry
from kombu.utils import json as kombu_json

_KOMBU = kombu_json.JSONEncoder()  # its ``default``: kombu's tags for the types JSON lacks
# datetimes (and dates, times) through ``default`` as kombu tags them, not orjson's plain strings
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
_TAG = b'"__type__"'
# orjson reads an integer beyond 64 bits as a float (1e+64), silently: any run of 19 digits (an integer
# that may not fit, or a long number inside a text) goes to kombu, which keeps Python's exact int. Found
# by mapping digits to "9" and all else to " " and looking for nineteen "9"s: a tenth of a regex's time.
_DIGIT_RUNS = bytes(0x39 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_NUMBER = b"9" * 19


def dumps(value) -> bytes:
    try:
        return orjson.dumps(value, default=_KOMBU.default, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return kombu_json.dumps(value).encode()


def loads(data):
    # kombu hands over text (it decodes the body first); a lone surrogate in it stays for orjson to refuse
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if _TAG in raw or _LONG_NUMBER in raw.translate(_DIGIT_RUNS):
        return kombu_json.loads(data)  # tagged values (kombu's object hook restores them), or a long number
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return kombu_json.loads(data)


def response_body(payload) -> bytes:
    """A JSON response's body for HTTP clients: UTF-8, and ``str()`` of what JSON has no type for."""
    try:
        return orjson.dumps(payload, default=str, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(payload, ensure_ascii=False, default=str).encode()


def install() -> None:
    """Make orjson kombu's "json" serializer in this process: nameko's RPC and events and the outbox
    relay all name "json"."""
    registry.register("json", dumps, loads, content_type="application/json", content_encoding="utf-8")
