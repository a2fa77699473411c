"""The seal service's rules (电子印章), plain Python over a SQLAlchemy session; each state change
writes its audit record and its event (through the outbox) in the same transaction.

- ``keys``: the operator CA and the envelope-encrypted private keys (never in clear at rest).
- ``seals``: apply → approve (issue) → active → revoked | destroyed; the registry's unit events.
- ``custody``: two-person custody of a seal's use, and the three-party destruction.
- ``sealing``: sealing a manifest (detached CMS), verifying, and the verification stamp for printing.
"""
