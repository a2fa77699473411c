"""Archive policy from the service's config.

``ARCHIVE_KEK`` (base64 of 32 bytes, required: unset, the service refuses to start unless
``GONGWEN_DEVELOPMENT_KEYS=1`` allows a fixed development key) wraps the ledger's signing key;
``LEDGER_TREE_HEAD_SECONDS`` (default 60) is how often a new signed tree head is published when
the ledger has grown.
"""
from dataclasses import dataclass

from gongwen_common.keywrap import KeyEncryptionKey


@dataclass(frozen=True)
class ArchiveSettings:
    kek: KeyEncryptionKey
    tree_head_seconds: float = 60.0

    @classmethod
    def from_config(cls, config) -> "ArchiveSettings":
        return cls(
            kek=KeyEncryptionKey.from_config(config.get("ARCHIVE_KEK"), setting="ARCHIVE_KEK",
                                             purpose="the ledger's signing key"),
            tree_head_seconds=float(config.get("LEDGER_TREE_HEAD_SECONDS") or 60),
        )
