"""Identity rules, free of nameko and the broker: every rule takes the session and ``now``.

``users`` (accounts, roles, mobiles, U_Key enrolment), ``passwords`` (policy and argon2id),
``authentication`` (challenge, login order, lockout), ``tokens`` (ES256 keys, JWKS, revocation),
``clients`` (department systems), ``proxies`` (代理人), ``units`` (the unit read model),
``bootstrap`` (the first operator), ``audit``.
"""
