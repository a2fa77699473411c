"""Notify's rules: ``people`` (whom it may reach), ``policies`` (escalation as data, and what
"tighter" means), ``templates`` and ``texts`` (approved texts, counted and cut as carriers do),
``escalation`` (events to steps, the timer that fires each once), ``dispatch`` (notifications to
messages under the carriers' rules) and ``proof`` (who was told, 001 §21)."""
