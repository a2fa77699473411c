"""The identity service's contract: ``schemas`` (requests, answers) and ``events``."""
