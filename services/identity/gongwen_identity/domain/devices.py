"""U_Key (身份锁) device keys: EC P-256 public keys, and signatures made with their private half."""
import base64
import binascii
import functools
import hashlib
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from ..models import DeviceKey
from .errors import DeviceKeyInUse, InvalidDeviceKey


@dataclass(frozen=True)
class DevicePublicKey:
    pem: str  # re-serialised SubjectPublicKeyInfo, whatever layout the client sent
    fingerprint: str  # SHA-256 of the DER SubjectPublicKeyInfo, hex


def parse_device_key(pem) -> DevicePublicKey:
    """Accept only an EC P-256 public key in PEM: anything else is ``INVALID_DEVICE_KEY``."""
    if isinstance(pem, str):
        pem = pem.encode()
    if not isinstance(pem, bytes) or not pem.strip():
        raise InvalidDeviceKey(message="A device public key (PEM) is required.")
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise InvalidDeviceKey(message="The device public key is not a PEM public key.") from None
    except Exception:  # cryptography raises its own UnsupportedAlgorithm for exotic keys
        raise InvalidDeviceKey(message="The device public key is not a supported PEM public key.") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InvalidDeviceKey(message="The device key must be an EC P-256 (secp256r1) public key.")
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    normalised = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return DevicePublicKey(normalised.decode(), hashlib.sha256(der).hexdigest())


def active_device(session, user_id: str) -> DeviceKey | None:
    return session.scalar(select(DeviceKey).where(DeviceKey.user_id == user_id, DeviceKey.status == "active"))


def enrol(session, user_id: str, key: DevicePublicKey, by: str | None, now) -> DeviceKey:
    """Make ``key`` the user's one active U_Key, retiring the one it replaces."""
    holder = session.scalar(select(DeviceKey).where(DeviceKey.fingerprint == key.fingerprint,
                                                    DeviceKey.status == "active"))
    if holder is not None and holder.user_id != user_id:
        # One person, one account (004 六(三)): a U_Key enrolled for someone else is refused.
        raise DeviceKeyInUse(message="This device key is already enrolled for another user.")
    if holder is not None:
        return holder
    current = active_device(session, user_id)
    if current is not None:
        current.status, current.replaced_at = "replaced", now
        session.flush()  # the partial unique index allows one active key per user at any moment
    device = DeviceKey(id=str(uuid.uuid4()), user_id=user_id, public_key_pem=key.pem,
                       fingerprint=key.fingerprint, status="active", enrolled_by=by, enrolled_at=now)
    session.add(device)
    return device


@functools.cache
def _stand_in_pem() -> str:
    """Verified against for unknown users, so they cost what a known user with a bad signature costs."""
    return ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def signature_valid(device: DeviceKey | None, nonce: bytes, signature_b64) -> bool:
    """A DER ECDSA-P256-SHA256 signature, base64, over the raw nonce bytes."""
    key = serialization.load_pem_public_key((device.public_key_pem if device else _stand_in_pem()).encode())
    try:
        signature = base64.b64decode(signature_b64 if isinstance(signature_b64, str | bytes) else b"",
                                     validate=True)
    except (binascii.Error, ValueError):
        signature = b""
    try:
        key.verify(signature, nonce, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return device is not None
