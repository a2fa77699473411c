"""The HTTP gateway: the only way department systems and people reach the suite."""
