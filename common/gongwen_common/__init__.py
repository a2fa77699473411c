"""Shared infrastructure for Gongwen services: no domain rules live here.

Importing it makes orjson the process's JSON on the wire (``serialization``): every service, the
gateway and the tools import it before they open a connection."""
from . import serialization

serialization.install()
