"""Access tokens: ES256 JWTs signed with a key pair kept in the identity database.

The private key is stored only as AES-256-GCM ciphertext under the key-encryption key (KEK,
config ``IDENTITY_KEK``, base64 of 32 bytes), with the key id as associated data so a
ciphertext cannot be moved to another row. The KEK follows ``gongwen_common.keywrap``'s one rule:
unset, nothing is signed (``SigningKeyUnavailable`` naming ``IDENTITY_KEK``) unless
``GONGWEN_DEVELOPMENT_KEYS=1`` allows a fixed development key (with a warning). The stored form is
this module's own (nonce and ciphertext in two columns, its own KEK id), unchanged.
"""
import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite

from gongwen_common import housekeeping
from gongwen_common.keywrap import NONCE_BYTES, KeyEncryptionKey, KeyUnavailable

from ..models import AccessToken, Challenge, RevokedToken, SigningKey
from . import audit
from .errors import SigningKeyUnavailable, ValidationFailed

ALGORITHM = "ES256"
_PURGE_GRACE = timedelta(hours=1)
# The stored signing keys name their KEK under this label (older than keywrap's own id).
_KEK_ID_LABEL = b"gongwen-identity kek id|"


def key_encryption_key(configured: str | None) -> KeyEncryptionKey:
    """The KEK of the signing keys from ``IDENTITY_KEK`` (keywrap's rule: unset refuses unless
    development keys are allowed)."""
    try:
        return KeyEncryptionKey.from_config(configured, setting="IDENTITY_KEK", purpose="token signing keys")
    except KeyUnavailable as exc:
        raise SigningKeyUnavailable(str(exc)) from None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _public_jwk(public_key: ec.EllipticCurvePublicKey) -> dict:
    return ECAlgorithm.to_jwk(public_key, as_dict=True)


def _thumbprint(public_key) -> str:
    """RFC 7638 JWK thumbprint: a stable key id derived from the key itself."""
    jwk = _public_jwk(public_key)
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def _generate(session, kek: KeyEncryptionKey, now) -> tuple[SigningKey, ec.EllipticCurvePrivateKey]:
    private_key = ec.generate_private_key(ec.SECP256R1())
    kid = _thumbprint(private_key.public_key())
    plain = private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
    sealed = kek.encrypt(plain, kid.encode())  # AES-256-GCM: the nonce, then the ciphertext
    row = SigningKey(
        kid=kid, algorithm=ALGORITHM, status="active", created_at=now, kek_id=kek.key_id(_KEK_ID_LABEL),
        public_key_pem=private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
        private_key_ciphertext=sealed[NONCE_BYTES:], private_key_nonce=sealed[:NONCE_BYTES],
    )
    session.add(row)
    session.flush()
    return row, private_key


def _active_rows(session):
    return list(session.scalars(select(SigningKey).where(SigningKey.status == "active")
                                .order_by(SigningKey.created_at.desc(), SigningKey.kid)))


def signing_key(session, configured_kek: str | None, now) -> tuple[str, ec.EllipticCurvePrivateKey]:
    """The newest active signing key, generated at first use. Two workers racing at first use
    may each create one; both are then published in the JWKS and either may sign."""
    kek = key_encryption_key(configured_kek)
    rows = _active_rows(session)
    if not rows:
        row, private_key = _generate(session, kek, now)
        return row.kid, private_key
    row = rows[0]
    try:
        plain = kek.decrypt(row.private_key_nonce + row.private_key_ciphertext, row.kid.encode())
    except KeyUnavailable:
        raise SigningKeyUnavailable(f"signing key {row.kid} was encrypted under KEK {row.kek_id}, not the "
                                    f"configured {kek.key_id(_KEK_ID_LABEL)}") from None
    return row.kid, serialization.load_der_private_key(plain, password=None)


def rewrap_all(session, old: KeyEncryptionKey, new: KeyEncryptionKey) -> int:
    """KEK rotation (``python -m gongwen_local rekey identity``): every stored signing key encrypted
    again under ``new`` (a fresh nonce); how many were. Keys already under ``new`` are left alone."""
    count = 0
    for row in session.scalars(select(SigningKey).with_for_update()):
        if row.kek_id == new.key_id(_KEK_ID_LABEL):
            continue
        if row.kek_id != old.key_id(_KEK_ID_LABEL):
            raise KeyUnavailable(f"signing key {row.kid} is under KEK {row.kek_id}, neither the old nor the new")
        plain = old.decrypt(row.private_key_nonce + row.private_key_ciphertext, row.kid.encode())
        sealed = new.encrypt(plain, row.kid.encode())
        row.private_key_ciphertext, row.private_key_nonce = sealed[NONCE_BYTES:], sealed[:NONCE_BYTES]
        row.kek_id = new.key_id(_KEK_ID_LABEL)
        count += 1
    return count


def jwks(session, configured_kek: str | None, now) -> dict:
    """The public keys tokens are signed with (RFC 7517 JWK Set)."""
    if not _active_rows(session):
        signing_key(session, configured_kek, now)
    keys = []
    for row in _active_rows(session):
        public_key = serialization.load_pem_public_key(row.public_key_pem.encode())
        keys.append({**_public_jwk(public_key), "kid": row.kid, "alg": ALGORITHM, "use": "sig"})
    return {"keys": keys}


def issue(session, claims: dict, ttl: timedelta, configured_kek: str | None, now) -> dict:
    """Sign an access token for ``claims`` (sub, username, unit, roles, pwd) and record its jti."""
    kid, private_key = signing_key(session, configured_kek, now)
    jti = uuid.uuid4().hex
    expires_at = now + ttl
    payload = {**claims, "jti": jti, "iat": int(now.timestamp()), "exp": int(expires_at.timestamp())}
    token = jwt.encode(payload, private_key, algorithm=ALGORITHM, headers={"kid": kid})
    proxy_user_id = (claims.get("act") or {}).get("sub")
    session.add(AccessToken(jti=jti, subject=claims["sub"], proxy_user_id=proxy_user_id, issued_at=now,
                            expires_at=expires_at))
    return {"access_token": token, "token_type": "Bearer", "expires_in": int(ttl.total_seconds()),
            "must_change_password": bool(claims.get("pwd"))}


def _instant(exp) -> datetime:
    if isinstance(exp, datetime) and exp.tzinfo is not None:
        return exp
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        return datetime.fromtimestamp(exp, UTC)
    if isinstance(exp, str):
        try:
            parsed = datetime.fromisoformat(exp)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    raise ValidationFailed({"exp": ["expected the token's exp (seconds since the epoch or RFC 3339)"]})


_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}  # both know ON CONFLICT DO NOTHING


def revoke(session, jti, exp, reason: str, now) -> bool:
    """Record ``jti`` as revoked until it would have expired; False if it already was. Two
    concurrent revocations of one token (a double logout, a logout racing a password change)
    meet at the primary key: ``INSERT … ON CONFLICT DO NOTHING`` makes the loser wait for the
    winner and insert nothing, so it answers as if it had come second instead of failing its
    transaction at commit (a 500)."""
    if not isinstance(jti, str) or not 0 < len(jti) <= 64:
        raise ValidationFailed({"jti": ["expected the token's jti"]})
    if session.get(RevokedToken, jti) is not None:
        return False
    expires_at = _instant(exp)
    insert = _INSERTS[session.get_bind().dialect.name]
    added = session.execute(insert(RevokedToken).values(jti=jti, expires_at=expires_at, revoked_at=now,
                                                        reason=reason).on_conflict_do_nothing()).rowcount
    if added != 1:
        return False
    session.emit("token_revoked", {"jti": jti, "expires_at": expires_at.isoformat()}, at=now)
    return True


def revoke_sessions(session, subject: str, reason: str, now) -> list[str]:
    """Revoke every unexpired token of ``subject`` (a user id or ``client:<id>``), including the
    tokens a proxy holds for them and the ones they hold as someone's proxy."""
    revoked = []
    held = or_(AccessToken.subject == subject, AccessToken.proxy_user_id == subject)
    for token in list(session.scalars(select(AccessToken).where(held, AccessToken.expires_at > now))):
        if revoke(session, token.jti, token.expires_at, reason, now):
            revoked.append(token.jti)
    return revoked


def logout(session, jti, exp, now) -> bool:
    """Revoke the caller's own token (the gateway passes its jti and exp)."""
    revoked = revoke(session, jti, exp, "logout", now)
    if revoked:
        audit.record(session, now, subject_of(session, jti), "logout", "token", jti)
    return revoked


def subject_of(session, jti) -> str | None:
    token = session.get(AccessToken, jti) if isinstance(jti, str) else None
    return token.subject if token else None


def active_revocations(session, now) -> list[dict]:
    """Revoked tokens that have not expired yet: what a starting verifier must refuse."""
    rows = session.scalars(select(RevokedToken).where(RevokedToken.expires_at > now))
    return [{"jti": row.jti, "expires_at": row.expires_at.isoformat()} for row in rows]


def is_revoked(session, jti) -> bool:
    return isinstance(jti, str) and session.get(RevokedToken, jti) is not None


def purge_expired(session, now, challenge_retention=timedelta(0)) -> dict:
    """Drop what can no longer matter: challenges expired ``challenge_retention`` ago
    (``IDENTITY_CHALLENGE_RETENTION_MINUTES``), and tokens (with their revocations) expired an hour
    ago, which leaves room for a verifier's clock-skew leeway. In committed batches, several
    instances at once each deleting other rows (``gongwen_common.housekeeping``)."""
    counts = {"challenges": housekeeping.purge_batches(session, Challenge,
                                                       Challenge.expires_at <= now - challenge_retention)}
    for name, model in (("access_tokens", AccessToken), ("revoked_tokens", RevokedToken)):
        counts[name] = housekeeping.purge_batches(session, model, model.expires_at <= now - _PURGE_GRACE)
    return counts
