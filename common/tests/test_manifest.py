"""The document manifest a seal signs: RFC 8785 canonical bytes and the digests of the parts."""
import hashlib

import pytest

from gongwen_common import manifest
from gongwen_common.manifest import canonical_bytes, check_digests, is_canonical, parse, sha256_hex

BODY = "关于做好2026年春节期间安全生产工作的通知\n".encode()
ANNEX = {"附件1.pdf": b"%PDF-1.7 annex one", "annex-2.ofd": b"OFD annex two"}


def document_manifest():
    return {
        "title": "关于做好2026年春节期间安全生产工作的通知",
        "body_sha256": sha256_hex(BODY),
        "attachments": [{"name": name, "sha256": sha256_hex(data), "size": len(data)}
                        for name, data in ANNEX.items()],
    }


def test_sha256_hex_is_lowercase_hex():
    assert sha256_hex(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize(("value", "expected"), [
    # Keys sorted, no whitespace, Chinese kept as UTF-8 (not \u escapes).
    ({"b": 1, "a": "公文", "c": [3, 2]}, '{"a":"公文","b":1,"c":[3,2]}'),
    ({"单位": "甲", "unit": "乙", "Unit": "丙"}, '{"Unit":"丙","unit":"乙","单位":"甲"}'),
    # Nested objects are sorted too; strings escape only what JSON must.
    ({"z": {"y": 1, "x": 2}, "s": 'a"b\\c\n\u0001'}, '{"s":"a\\"b\\\\c\\n\\u0001","z":{"x":2,"y":1}}'),
    # Numbers as ECMAScript prints them: 1.0 is 1, large and small in exponent form, -0 is 0.
    ({"n": [1.0, 100, 0.1, 1e21, 1e-7, -0.0, 2 ** 53 - 1, 333333333.3333333]},
     '{"n":[1,100,0.1,1e+21,1e-7,0,9007199254740991,333333333.3333333]}'),
    (
        {"true": True, "false": False, "null": None, "empty": {}, "list": []},
        '{"empty":{},"false":false,"list":[],"null":null,"true":true}',
    ),
])
def test_canonical_form(value, expected):
    assert canonical_bytes(value) == expected.encode()
    assert is_canonical(expected.encode())


def test_keys_sort_by_utf16_code_units_as_rfc8785_says():
    # RFC 8785 §3.2.3: U+1F600 (surrogates D83D DE00) sorts before U+FB33, unlike by code point.
    value = {"\ufb33": "Hebrew", "\U0001f600": "Emoji", "\u20ac": "Euro", "1": "One", "\r": "CR", "\u00f6": "o"}
    assert canonical_bytes(value) == ('{"\\r":"CR","1":"One","\u00f6":"o","\u20ac":"Euro",'
                                      '"\U0001f600":"Emoji","\ufb33":"Hebrew"}').encode()


def test_the_same_manifest_always_has_the_same_bytes():
    one = document_manifest()
    reordered = dict(reversed(list(one.items())))
    assert canonical_bytes(one) == canonical_bytes(reordered) == canonical_bytes(parse(canonical_bytes(one)))


def test_is_canonical_refuses_other_serialisations():
    assert not is_canonical(b'{"b":1,"a":2}')
    assert not is_canonical(b'{"a": 2}')
    assert not is_canonical(b'{"a":1.0}')
    assert not is_canonical(b'{"a":"\\u516c"}')  # escaped Chinese is not the canonical form
    assert not is_canonical(b'{"a":9007199254740993}')  # beyond the exact integers of a double
    assert not is_canonical(b"[1,2]")
    assert not is_canonical(b"\xff")
    assert is_canonical(canonical_bytes(document_manifest()))


@pytest.mark.parametrize("data", [b"", b"not json", b"[1]", b'"text"', b"null", b"\xff\xfe", b'{"a":NaN}',
                                  b'{"a":1,"a":2}', b"[" * 100000])
def test_parse_refuses_what_is_not_a_json_object(data):
    with pytest.raises(ValueError):
        parse(data)


def test_parse_reads_an_object():
    assert parse('{"标题":"通知","n":1}'.encode()) == {"标题": "通知", "n": 1}


def test_digests_match_when_every_supplied_part_matches():
    m = document_manifest()
    assert check_digests(m, BODY, ANNEX) is None
    assert check_digests(m, None, None) is None  # nothing supplied, nothing checked
    assert check_digests(m, BODY, None) is None
    assert check_digests(m, None, {"附件1.pdf": ANNEX["附件1.pdf"]}) is None  # the other attachment not held
    upper = {**m, "body_sha256": m["body_sha256"].upper()}
    assert check_digests(upper, BODY, {}) is None


@pytest.mark.parametrize(("body", "attachments"), [
    (BODY + b" ", None),
    (b"", None),
    (None, {"附件1.pdf": b"%PDF-1.7 annex ONE"}),  # same size, other bytes
    (None, {"annex-2.ofd": ANNEX["annex-2.ofd"] + b"!"}),
    (None, {"附件3.pdf": b"not in the manifest"}),
    (BODY, {**ANNEX, "extra.txt": b""}),
])
def test_a_changed_or_unlisted_part_is_a_digest_mismatch(body, attachments):
    assert check_digests(document_manifest(), body, attachments) == manifest.DIGEST_MISMATCH == "DIGEST_MISMATCH"


def test_a_malformed_manifest_never_matches():
    m = document_manifest()
    assert check_digests({}, BODY, None) == "DIGEST_MISMATCH"
    assert check_digests({**m, "attachments": None}, None, ANNEX) == "DIGEST_MISMATCH"
    wrong_size = {**m, "attachments": [{**m["attachments"][0], "size": 1}]}
    assert check_digests(wrong_size, None, {"附件1.pdf": ANNEX["附件1.pdf"]}) == "DIGEST_MISMATCH"
    listed_twice = {**m, "attachments": m["attachments"] + m["attachments"][:1]}
    assert check_digests(listed_twice, None, {"附件1.pdf": ANNEX["附件1.pdf"]}) == "DIGEST_MISMATCH"
    bool_size = {**m, "attachments": [{"name": "a", "sha256": hashlib.sha256(b"x").hexdigest(), "size": True}]}
    assert check_digests(bool_size, None, {"a": b"x"}) == "DIGEST_MISMATCH"
