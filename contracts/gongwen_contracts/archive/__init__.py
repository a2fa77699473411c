"""The archive service's contract: ``schemas`` (requests, answers) and ``events``."""
