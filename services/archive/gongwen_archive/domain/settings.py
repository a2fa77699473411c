"""Archive policy from the service's config.

``ARCHIVE_KEK`` (base64 of 32 bytes, required: unset, the service refuses to start unless
``GONGWEN_DEVELOPMENT_KEYS=1`` allows a fixed development key) wraps the ledger's signing key;
``LEDGER_TREE_HEAD_SECONDS`` (default 60) is how often a new signed tree head is published when
the ledger has grown; ``ARCHIVE_RETENTION`` (``kind=years,…``, 0 permanent; see ``retention``) how
long each kind of document's package is kept.
"""
from dataclasses import dataclass

from gongwen_common.keywrap import KeyEncryptionKey

from .retention import RetentionPolicy


@dataclass(frozen=True)
class ArchiveSettings:
    kek: KeyEncryptionKey
    tree_head_seconds: float = 60.0
    retention: RetentionPolicy = RetentionPolicy.parse(None)

    @classmethod
    def from_config(cls, config) -> "ArchiveSettings":
        return cls(
            kek=KeyEncryptionKey.from_config(config.get("ARCHIVE_KEK"), setting="ARCHIVE_KEK",
                                             purpose="the ledger's signing key"),
            tree_head_seconds=float(config.get("LEDGER_TREE_HEAD_SECONDS") or 60),
            retention=RetentionPolicy.parse(config.get("ARCHIVE_RETENTION")),
        )
