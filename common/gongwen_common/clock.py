"""The one place that reads the wall clock, so rules can be given another clock in tests."""
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
