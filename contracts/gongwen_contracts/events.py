"""What every contract's ``events`` module shares: the base of an event's ``data`` schema, and
every service's event types in one table.

An event's ``data`` schema says what a consumer may rely on. It keeps fields it does not declare
(``unknown = INCLUDE``): a producer may add a field without breaking consumers that load the
data with an older contract.
"""
from importlib import import_module

from marshmallow import INCLUDE, Schema

SERVICES = ("registry", "identity", "seal", "exchange", "notify", "archive")


class EventData(Schema):
    class Meta:
        unknown = INCLUDE


def event_types(service: str) -> dict[str, type[Schema]]:
    """The event types ``service`` emits, each with the schema of its ``data``."""
    return import_module(f"gongwen_contracts.{service}.events").EVENTS


def load_event_data(service: str, event_type: str, data: dict) -> dict:
    """``data`` of a ``service``'s ``event_type`` event, loaded with its schema (marshmallow's
    ``ValidationError`` if it is not what the contract says; ``KeyError`` for an unknown type)."""
    return event_types(service)[event_type]().load(data)
