"""What each service publishes for others (契约): the request schemas it validates, the response
schemas the gateway documents, the event types it emits with the schema of each one's ``data``,
and (the registry's) the way to keep a copy of the unit directory.

One subpackage per service (``registry``, ``identity``, ``seal``, ``exchange``, ``notify``,
``archive``), each with ``schemas`` and ``events``. A contract depends on marshmallow, SQLAlchemy
and ``gongwen_common`` only, never on a service's runtime dependencies (argon2, zxcvbn,
chinese-calendar, cryptography, twilio), so the gateway and other services install it alone.
"""
