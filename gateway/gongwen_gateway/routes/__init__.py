"""The gateway's routes, one module per area; ``GatewayService`` composes them into one service.

Each area is a mixin class of route functions: ``@api(...)`` declares the route (who may call
it, its body schema, whether it honours ``Idempotency-Key``) and ``http.ApiEntrypoint`` passes
the function what it names of ``body``, ``actor``, ``principal`` and ``idempotency_key``, so a
forwarding route is its declaration plus one call (``self.call``, the service's RPC with a
deadline). nameko finds entrypoints on base classes, so the mixins' routes are the service's.
"""
OPERATOR = ("operator",)
OPERATOR_OR_ADMIN = ("operator", "admin")
CLERK = ("clerk",)
RECEIVERS = ("clerk", "system")  # a unit's clerks, or its own office system

SERVICES = ("registry", "identity", "seal", "exchange", "notify", "archive")
