"""Seal policy from the service's config.

``SEAL_KEK`` (base64 of 32 bytes, required: unset, the service refuses to start unless
``GONGWEN_DEVELOPMENT_KEYS=1`` allows a fixed development key) encrypts every private key's data
key; ``SEAL_VALIDITY_DAYS`` (default 730) is a seal certificate's lifetime;
``SEAL_APPROVAL_WINDOW_SECONDS`` (default 900) is how long a custodian's approval of one use
stays good; ``SEAL_KEY_CACHE_SECONDS`` (default 300, 0 for none) is how long an unwrapped seal key
may stay in memory (``signers``).
"""
from dataclasses import dataclass
from datetime import timedelta

from gongwen_common.keywrap import KeyEncryptionKey


@dataclass(frozen=True)
class SealSettings:
    kek: KeyEncryptionKey
    validity: timedelta = timedelta(days=730)
    approval_window: timedelta = timedelta(minutes=15)
    key_cache_seconds: float = 300

    @classmethod
    def from_config(cls, config) -> "SealSettings":
        return cls(
            kek=KeyEncryptionKey.from_config(config.get("SEAL_KEK"), setting="SEAL_KEK",
                                             purpose="seal private keys"),
            validity=timedelta(days=int(config.get("SEAL_VALIDITY_DAYS") or 730)),
            approval_window=timedelta(seconds=int(config.get("SEAL_APPROVAL_WINDOW_SECONDS") or 900)),
            key_cache_seconds=float(config.get("SEAL_KEY_CACHE_SECONDS", 300)),
        )
