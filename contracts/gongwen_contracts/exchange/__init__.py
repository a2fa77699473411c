"""The exchange service's contract: ``schemas`` (requests, answers) and ``events``."""
