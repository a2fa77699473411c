"""marshmallow fields every service's schemas share."""
from marshmallow import fields


class StrictBoolean(fields.Boolean):
    """JSON ``true`` or ``false`` only: not 0, 1 or "yes" (Python's ``0 == False`` would let 0 through)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value
