"""The U_Key (身份锁): signs a login challenge with the user's device key, which never leaves it.

Two holders: a PEM key file (development, tests) and a PKCS#11 token (a USB key in production,
SoftHSM2 in tests) — the same code path, chosen by configuration.
"""
import re
from hashlib import sha256
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


class UnusableKey(ValueError):
    """The U_Key cannot sign a login: said in one sentence, never as a traceback."""


class UnusableKeyFile(UnusableKey):
    """A key file that holds no usable private key."""


def load_key_file(path: Path, password: bytes | None = None) -> ec.EllipticCurvePrivateKey:
    """The EC P-256 private key in a PEM file, or :class:`UnusableKeyFile` saying what the file is instead."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UnusableKeyFile(f"cannot read the key file {path}: {exc.strerror or exc}.") from None
    if b"PUBLIC KEY-----" in data and b"PRIVATE KEY-----" not in data:
        raise UnusableKeyFile(f"{path} holds a public key; --key-file wants the U_Key's private key "
                              "(the public half is what the operator registered).")
    try:
        key = serialization.load_pem_private_key(data, password)
    except TypeError:  # encrypted and no password given (or the reverse)
        raise UnusableKeyFile(f"{path} is an encrypted private key; decrypt it first "
                              "(openssl pkey -in FILE -out PLAIN.pem) or keep the key in a PKCS#11 token.") from None
    except (ValueError, UnsupportedAlgorithm):
        raise UnusableKeyFile(f"{path} is not a PEM private key (a U_Key key file begins with "
                              "-----BEGIN PRIVATE KEY-----).") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise UnusableKeyFile(f"{path} is not an EC P-256 key, the only kind a U_Key holds.")
    return key


class KeyFileSigner:
    def __init__(self, path: Path, password: bytes | None = None):
        self.key = load_key_file(path, password)

    def sign(self, nonce: bytes) -> bytes:
        """DER ECDSA-P256-SHA256 over the raw nonce (API.md)."""
        return self.key.sign(nonce, ec.ECDSA(hashes.SHA256()))


class Pkcs11Signer:
    """The private key stays in the token; only the signature comes out."""

    def __init__(self, module: str, token_label: str, pin: str, key_label: str | None = None):
        import pkcs11
        from pkcs11.exceptions import PKCS11Error

        try:
            self.token = pkcs11.lib(module).get_token(token_label=token_label)
        except (PKCS11Error, RuntimeError, OSError) as exc:  # no such library or token
            raise UnusableKey(f"cannot use the PKCS#11 token {token_label!r} of {module}: {_said(exc)}.") from None
        self.pin, self.key_label = pin, key_label

    def sign(self, nonce: bytes) -> bytes:
        from pkcs11.exceptions import PKCS11Error

        try:
            return self._sign(nonce)
        except PKCS11Error as exc:  # a wrong PIN, a locked token, no such key
            raise UnusableKey(f"the U_Key token refused to sign: {_said(exc)}.") from None

    def _sign(self, nonce: bytes) -> bytes:
        from pkcs11 import KeyType, Mechanism, ObjectClass
        from pkcs11.exceptions import MechanismInvalid
        from pkcs11.util.ec import encode_ecdsa_signature

        with self.token.open(user_pin=self.pin) as session:
            key = session.get_key(ObjectClass.PRIVATE_KEY, KeyType.EC, label=self.key_label)
            try:
                raw = key.sign(nonce, mechanism=Mechanism.ECDSA_SHA256)
            except MechanismInvalid:
                # Tokens without on-board hashing (SoftHSM2 among them): hash here, sign the digest.
                raw = key.sign(sha256(nonce).digest(), mechanism=Mechanism.ECDSA)
        return encode_ecdsa_signature(raw)  # PKCS#11 gives r‖s; the API wants DER


def _said(exc: Exception) -> str:
    """A PKCS#11 error by its name when it has no message (PinIncorrect → "pin incorrect")."""
    words = str(exc).strip() or type(exc).__name__
    return words if str(exc).strip() else " ".join(part.lower() for part in re.findall(r"[A-Z][a-z]*|\d+", words))
