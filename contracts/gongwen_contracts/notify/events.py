"""The notify service's events: none yet. An event type it emits is added here, with the schema of
its ``data`` (``tests/test_package_boundaries.py`` fails until it is)."""

EVENTS: dict = {}
