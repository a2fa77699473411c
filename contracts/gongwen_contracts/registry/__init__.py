"""The registry service's contract: ``schemas`` (requests, answers) and ``events``."""
