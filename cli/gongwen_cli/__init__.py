"""``gongwen``: the command line of the exchange, for people and scripts."""
