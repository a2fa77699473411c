"""Access tokens: ES256 with a JWKS, revocation, and the signing key encrypted at rest."""
import base64
import hashlib
import logging
from datetime import UTC, datetime

import jwt
import pytest
from argon2 import PasswordHasher
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nameko.containers import ServiceContainer
from sqlalchemy import select

from gongwen_common import keywrap
from gongwen_identity.domain import tokens
from gongwen_identity.domain.errors import SigningKeyUnavailable
from gongwen_identity.models import SigningKey
from gongwen_identity.service import IdentityService


def decode(world, token):
    header = jwt.get_unverified_header(token)
    [jwk] = [k for k in world.call("jwks")["keys"] if k["kid"] == header["kid"]]
    return header, jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["ES256"])


def test_a_token_verifies_with_the_jwks_and_carries_the_claims(world):
    alice = world.user("alice")
    # A hash made with weaker parameters than today's is upgraded at the next login.
    alice.password_hash = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(world.passwords["alice"])
    world.session.commit()

    result = world.login("alice")
    assert (result["token_type"], result["expires_in"], result["must_change_password"]) == ("Bearer", 900, True)
    header, claims = decode(world, result["access_token"])
    assert header["alg"] == "ES256"
    assert claims == {"sub": alice.id, "username": "alice", "unit": "gz-fgw", "roles": ["staff"], "pwd": True,
                      "jti": claims["jti"], "iat": int(world.clock.now.timestamp()),
                      "exp": int(world.clock.now.timestamp()) + 900}
    [jwk] = world.call("jwks")["keys"]
    assert {k: jwk[k] for k in ("kty", "crv", "alg", "use", "kid")} == {
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": header["kid"]}
    assert len(base64.urlsafe_b64decode(jwk["x"] + "=")) == len(base64.urlsafe_b64decode(jwk["y"] + "=")) == 32
    assert PasswordHasher().check_needs_rehash(world.user("alice").password_hash) is False


def test_logout_revokes_the_jti_and_disabling_a_user_revokes_their_sessions(world):
    first = decode(world, world.login("bob")["access_token"])[1]
    assert world.call("is_revoked", first["jti"]) is False
    assert world.call("logout", first["jti"], first["exp"]) == {"revoked": True}
    assert world.call("logout", first["jti"], first["exp"]) == {"revoked": False}
    assert world.call("is_revoked", first["jti"]) is True
    assert world.events("token_revoked") == [
        {"jti": first["jti"], "expires_at": datetime.fromtimestamp(first["exp"], UTC).isoformat()}]

    second = decode(world, world.login("bob")["access_token"])[1]
    world.call("disable_user", world.user("bob").id, world.actor("dave"), {"reason": "left the unit"})
    assert world.call("is_revoked", second["jti"]) is True
    assert [e["jti"] for e in world.events("token_revoked")] == [first["jti"], second["jti"]]
    [disabled] = world.events("user_disabled")
    assert (disabled["user"]["status"], disabled["reason"], disabled["disabled_by"]) == (
        "disabled", "left the unit", world.user("dave").id)


def test_the_signing_key_is_never_stored_in_clear(world):
    world.call("jwks")  # generated at first use
    [row] = world.session.scalars(select(SigningKey)).all()
    kek = base64.b64decode(world.service.config["IDENTITY_KEK"])
    # The stored form is as before keywrap's rule applied here: raw AES-GCM under the KEK, its own KEK id.
    assert row.kek_id == hashlib.sha256(b"gongwen-identity kek id|" + kek).hexdigest()[:16]
    plain = AESGCM(kek).decrypt(row.private_key_nonce, row.private_key_ciphertext, row.kid.encode())
    private_key = serialization.load_der_private_key(plain, password=None)
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    secret = private_key.private_numbers().private_value.to_bytes(32, "big")
    for column in SigningKey.__table__.columns:
        value = getattr(row, column.key)
        stored = value if isinstance(value, bytes) else str(value).encode()
        assert plain not in stored and pem not in stored and secret not in stored and b"PRIVATE" not in stored
    # The ciphertext is bound to its row: another kid as associated data does not open it.
    with pytest.raises(InvalidTag):
        AESGCM(kek).decrypt(row.private_key_nonce, row.private_key_ciphertext, b"another-kid")
    with pytest.raises(SigningKeyUnavailable):
        tokens.signing_key(world.session, base64.b64encode(b"\x01" * 32).decode(), world.clock.now)


def test_without_a_kek_no_token_is_signed_and_the_error_names_identity_kek(world, monkeypatch):
    monkeypatch.delenv(keywrap.DEVELOPMENT_FLAG, raising=False)
    service = world.service_with({"IDENTITY_KEK": None})
    with pytest.raises(SigningKeyUnavailable, match=r"IDENTITY_KEK is not set.*GONGWEN_DEVELOPMENT_KEYS=1"):
        service.jwks()
    world.session.rollback()
    assert world.session.scalars(select(SigningKey)).all() == []
    # And the service does not even start: the check runs when its container does.
    container = ServiceContainer(IdentityService, {"DATABASE_URL": "sqlite://", "AMQP_URI": "memory://",
                                                   "IDENTITY_KEK": ""})
    with pytest.raises(SigningKeyUnavailable, match="IDENTITY_KEK is not set"):
        container.start()
    container.kill()
    # A KEK of the wrong size is a configuration fault, not a silent fallback.
    with pytest.raises(SigningKeyUnavailable):
        tokens.key_encryption_key(base64.b64encode(b"short").decode())


def test_with_the_development_flag_a_development_key_is_used_with_a_warning(world, caplog, monkeypatch):
    monkeypatch.setattr(keywrap, "_warned_purposes", set())
    monkeypatch.setenv(keywrap.DEVELOPMENT_FLAG, "1")
    service = world.service_with({"IDENTITY_KEK": None})
    with caplog.at_level(logging.WARNING, logger=keywrap.__name__):
        world.call("jwks", service=service)
    assert any("IDENTITY_KEK" in r.getMessage() and "not for production" in r.getMessage().lower()
               for r in caplog.records)
    row = world.session.scalars(select(SigningKey)).one()
    with pytest.raises(ValueError):
        serialization.load_der_private_key(row.private_key_ciphertext, password=None)


def test_purge_drops_expired_challenges_and_long_expired_tokens(world):
    claims = decode(world, world.login("operator")["access_token"])[1]
    world.call("logout", claims["jti"], claims["exp"])
    world.call("issue_challenge", {"username": "anyone"})
    world.clock.advance(minutes=15)  # the token just expired: its revocation is kept for clock skew
    assert world.call("purge_expired") == {"challenges": 2, "access_tokens": 0, "revoked_tokens": 0}
    world.clock.advance(hours=1)
    assert world.call("purge_expired") == {"challenges": 0, "access_tokens": 1, "revoked_tokens": 1}
