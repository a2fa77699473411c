"""The document manifest (文件清单) that an electronic seal signs.

A manifest is a JSON object naming the document's parts by SHA-256: ``body_sha256`` for the
body and ``attachments``: ``[{"name", "sha256", "size"}]``. A seal signs the manifest's RFC 8785
canonical bytes, so the same manifest always has the same bytes whichever service or the
offline CLI serialises it, and a signature over it covers every part through the digests.
"""
import hashlib
import json

import rfc8785

DIGEST_MISMATCH = "DIGEST_MISMATCH"


def canonical_bytes(manifest: dict) -> bytes:
    """RFC 8785 (JSON Canonicalization Scheme) bytes of ``manifest``: sorted keys, no whitespace, UTF-8."""
    return rfc8785.dumps(manifest)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _refuse_duplicate_keys(pairs):
    # Two parsers may keep different copies of a duplicated key: what was signed would be ambiguous.
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"manifest has the key {key!r} twice")
        obj[key] = value
    return obj


def _refuse_constant(name):
    raise ValueError(f"manifest has {name}, which is not JSON")


def parse(manifest_bytes: bytes) -> dict:
    """The manifest object in ``manifest_bytes`` (UTF-8 JSON); ``ValueError`` if it is not a JSON object."""
    try:
        text = bytes(manifest_bytes).decode("utf-8")
    except (TypeError, UnicodeDecodeError) as exc:
        raise ValueError("manifest is not UTF-8 JSON") from exc
    try:
        value = json.loads(text, object_pairs_hook=_refuse_duplicate_keys, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise ValueError("manifest is nested too deeply") from exc
    # json.JSONDecodeError is a ValueError already: it propagates with its position.
    if not isinstance(value, dict):
        raise ValueError("manifest is not a JSON object")
    return value


def is_canonical(manifest_bytes: bytes) -> bool:
    """Whether ``manifest_bytes`` is a JSON object exactly in its RFC 8785 canonical form."""
    try:
        return canonical_bytes(parse(manifest_bytes)) == bytes(manifest_bytes)
    except (ValueError, TypeError, rfc8785.CanonicalizationError):
        return False


def _matches(expected, data: bytes) -> bool:
    return isinstance(expected, str) and expected.lower() == sha256_hex(data)


def check_digests(manifest: dict, body: bytes | None, attachments: dict[str, bytes] | None) -> str | None:
    """None when every supplied part matches the manifest, else the reason code ``"DIGEST_MISMATCH"``.

    A part not supplied (``body=None``, an attachment left out of ``attachments``) is not checked:
    callers check what they hold. An attachment the manifest does not name is a mismatch, and so
    is a supplied attachment whose name the manifest lists twice (which entry would it be?).
    """
    if body is not None and not _matches(manifest.get("body_sha256"), body):
        return DIGEST_MISMATCH
    if not attachments:
        return None
    listed = manifest.get("attachments")
    if not isinstance(listed, list):
        return DIGEST_MISMATCH
    entries: dict[str, list[dict]] = {}
    for entry in listed:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            entries.setdefault(entry["name"], []).append(entry)
    for name, data in attachments.items():
        named = entries.get(name)
        if not named or len(named) > 1:
            return DIGEST_MISMATCH
        entry = named[0]
        size = entry.get("size")
        # bool is an int in Python; a manifest saying "size": true is not a size.
        if isinstance(size, bool) or size != len(data) or not _matches(entry.get("sha256"), data):
            return DIGEST_MISMATCH
    return None
