"""The seal service's contract: ``schemas`` (requests, answers) and ``events``."""
