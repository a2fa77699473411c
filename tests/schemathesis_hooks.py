"""Hooks the contract test loads into schemathesis (``SCHEMATHESIS_HOOKS``): two corrections of the pinned
tool itself, each for a case where what it reports is not about our API. Nothing here loosens a check:
every request still goes out and is checked; a failure is dropped only when the request, as the server
reads what was sent, is valid by the document.
"""
import ast
import threading

import schemathesis
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.core.jsonschema import make_validator
from schemathesis.core.transforms import to_wire_text
from schemathesis.transport.serialization import Binary

# CPython 3.11 before 3.11.8 (gh-106905) keeps the AST validator's recursion depth per interpreter, not per
# thread: two threads building ASTs at once fail with "SystemError: AST constructor recursion depth mismatch".
# Hypothesis parses the source of a strategy's lambdas to describe it, in each of the run's --workers threads.
_PARSING = threading.Lock()
_parse = ast.parse


def _serialised_parse(*args, **kwargs):
    with _PARSING:
        return _parse(*args, **kwargs)


ast.parse = _serialised_parse


def _is_file(schema) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "string" and schema.get("format") == "binary"


def _as_received(value, schema, json_part: bool):
    """What the server reads of one multipart part generated as ``value``: a file part is bytes
    (``format: binary`` holds any), a JSON part its JSON value, a text part its text."""
    if _is_file(schema):
        return ""
    if isinstance(schema, dict) and _is_file(schema.get("items")):
        return ["" for _ in value] if isinstance(value, list) else [""]
    if json_part:
        return value
    if isinstance(value, Binary):
        return ""
    return value if isinstance(value, str) else to_wire_text(value)


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keep every failure but a "schema-violating request accepted" whose multipart body, as sent, is
    valid. On a multipart body schemathesis 4.32.5 counts as negative a text where a part is
    ``format: binary`` (sent as that text's bytes: a file like any other) and a number or boolean for a
    text part (sent as its text, e.g. ``215``); its own check then cannot judge a body holding file
    bytes and reports it. Here the body is judged as the server receives it, by the document."""
    if not isinstance(failure, AcceptedNegativeData) or not (case.media_type or "").startswith("multipart/"):
        return True
    body = case.operation.get_body_for_media_type(case.media_type)
    if body is None or not isinstance(case.body, dict):
        return True
    schema, properties = body.optimized_schema, body.form_properties
    json_parts = {name for name, encoding in body.definition.get("encoding", {}).items()
                  if "json" in encoding.get("contentType", "")}
    received = {name: _as_received(value, properties.get(name), name in json_parts)
                for name, value in case.body.items()}
    try:
        validator = make_validator(schema, case.operation.schema.adapter.jsonschema_validator_cls)
        return not validator.is_valid(received)
    except Exception:  # a schema the validator cannot read: the failure stands
        return True
