"""The notify service's contract: ``schemas`` (requests, answers) and ``events``."""
