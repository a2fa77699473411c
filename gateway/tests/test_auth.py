"""The gateway's keyring: token verification and revocations, with identity played by a stub
and the keyring's clocks held by the test (no broker, no sleeping for a deadline)."""
import time
import uuid

import eventlet
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from gongwen_common.clock import MovableClock
from gongwen_common.errors import ServiceUnavailable, Unauthenticated
from gongwen_gateway.auth import Keyring


class Ticks(MovableClock):
    def advance(self, seconds):
        self.now += seconds


class Identity:
    """What identity answers: its signing keys and the still-valid revocations."""

    def __init__(self):
        self.key, self.kid = ec.generate_private_key(ec.SECP256R1()), "kid-1"
        self.revocations, self.up, self.fetched = [], True, 0

    def jwks(self):
        return {"keys": [{**ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True), "kid": self.kid, "alg": "ES256"}]}

    def token(self, lifetime=900, key=None, kid=None):
        now = int(time.time())
        claims = {"sub": "u1", "jti": uuid.uuid4().hex, "iat": now, "exp": now + lifetime, "roles": ["staff"]}
        return claims, jwt.encode(claims, key or self.key, algorithm="ES256", headers={"kid": kid or self.kid})


@pytest.fixture
def identity():
    return Identity()


@pytest.fixture
def keyring(identity):
    ring = Keyring()
    ring.clock, ring.wall = Ticks(0.0), Ticks(time.time())
    ring.setup()

    def fetch(*, keys=True):
        if not identity.up:
            raise ServiceUnavailable(message="identity is down")
        identity.fetched += 1
        return (identity.jwks() if keys else None), list(identity.revocations)

    ring.fetch = fetch
    return ring


def bearer(token):
    return f"Bearer {token}"


def test_a_revocation_whose_event_never_arrived_is_honoured_within_the_reload_bound(identity, keyring):
    """Issue 9 item 4: the ``token_revoked`` broadcast is lost (the gateway was reconnecting);
    the revocation still counts once the keyring reloads, at the latest after twice the reload
    interval even if no regular reload ran, and a revocation made known later is pruned once
    its token has expired."""
    claims, token = identity.token()
    assert keyring.authenticate(bearer(token)).jti == claims["jti"]
    identity.revocations.append({"jti": claims["jti"], "expires_at": claims["exp"]})  # no event

    keyring.clock.advance(keyring.revocations_every)
    keyring.reload_quietly()  # what the regular reload does every REVOCATION_RELOAD_SECONDS
    with pytest.raises(Unauthenticated):
        keyring.authenticate(bearer(token))

    other, second = identity.token()
    assert keyring.authenticate(bearer(second)).jti == other["jti"]
    identity.revocations.append({"jti": other["jti"], "expires_at": "2099-01-01T00:00:00+00:00"})
    keyring.clock.advance(2 * keyring.revocations_every + 1)  # the regular reloads all failed to run
    with pytest.raises(Unauthenticated):
        keyring.authenticate(bearer(second))

    keyring.wall.advance(900 + 61)  # the first token has long expired: its revocation is dropped
    keyring.reload_quietly()
    identity.revocations.clear()
    keyring.reload_quietly()
    assert claims["jti"] not in keyring.revoked and other["jti"] in keyring.revoked


def test_a_reconnected_event_consumer_reloads_the_revocations(identity, keyring):
    claims, token = identity.token()
    keyring.authenticate(bearer(token))
    identity.revocations.append({"jti": claims["jti"], "expires_at": claims["exp"]})
    keyring.connected()
    eventlet.sleep(0)
    with pytest.raises(Unauthenticated):
        keyring.authenticate(bearer(token))


def test_tokens_are_refused_rather_than_honoured_on_a_stale_revocation_list(identity, keyring):
    _, token = identity.token()
    keyring.authenticate(bearer(token))
    identity.up = False
    keyring.reload_quietly()  # a failed regular reload is logged, not raised
    keyring.clock.advance(keyring.revocations_every)
    assert keyring.authenticate(bearer(token)).user_id == "u1"  # within the bound
    keyring.clock.advance(keyring.revocations_every + 1)
    with pytest.raises(ServiceUnavailable):
        keyring.authenticate(bearer(token))


def test_an_expired_token_is_refused(identity, keyring):
    _, token = identity.token(lifetime=-60)  # beyond the 5 s leeway
    with pytest.raises(Unauthenticated) as refused:
        keyring.authenticate(bearer(token))
    assert (refused.value.status, refused.value.message) == (401, "The access token has expired.")


def test_a_token_with_a_known_kid_signed_by_another_key_is_refused(identity, keyring):
    _, token = identity.token(key=ec.generate_private_key(ec.SECP256R1()))  # our kid, not our key
    with pytest.raises(Unauthenticated) as refused:
        keyring.authenticate(bearer(token))
    assert (refused.value.status, refused.value.message) == (401, "The access token is invalid.")


def test_a_token_verified_once_is_still_refused_once_expired_revoked_or_its_key_replaced(identity, keyring):
    """The signature of a token is checked once (``Keyring.verified``); everything that can change
    is checked on every request."""
    claims, token = identity.token(lifetime=60)
    assert keyring.authenticate(bearer(token)).jti == claims["jti"]
    assert keyring.authenticate(bearer(token)).jti == claims["jti"]  # remembered: no second check
    assert list(keyring.verified) == [token]

    keyring.wall.advance(60 + 5 + 1)  # past expiry and the leeway, by the keyring's clock
    with pytest.raises(Unauthenticated) as refused:
        keyring.authenticate(bearer(token))
    assert refused.value.message == "The access token has expired."

    claims, token = identity.token()
    keyring.authenticate(bearer(token))
    keyring.revoke(claims["jti"], claims["exp"])  # the token_revoked event
    with pytest.raises(Unauthenticated) as refused:
        keyring.authenticate(bearer(token))
    assert refused.value.message == "The access token was revoked."

    claims, token = identity.token()
    keyring.authenticate(bearer(token))
    identity.key = ec.generate_private_key(ec.SECP256R1())  # identity replaced its key under the same kid
    keyring.clock.advance(keyring.reload_after + 1)
    keyring.load()
    with pytest.raises(Unauthenticated) as refused:
        keyring.authenticate(bearer(token))
    assert refused.value.message == "The access token is invalid."


def test_the_remembered_tokens_are_bounded(identity, keyring):
    keyring.verified_tokens = 3
    tokens = [identity.token()[1] for _ in range(5)]
    for token in tokens:
        keyring.authenticate(bearer(token))
    assert list(keyring.verified) == tokens[2:]
