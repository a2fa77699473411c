"""Seal keys kept unwrapped in memory for a bounded time, as ready CMS templates, so that sealing
a document costs about one ECDSA signature and no key unwrap.

The bound (``SEAL_KEY_CACHE_SECONDS``, default 300; 0 keeps nothing) counts from the unwrap, not
from the last use: a key leaves this process's memory at most that long after it was opened, however
busy its seal. The KEK that opens every key is in this memory anyway; what the bound limits is how
long a key the service no longer needs stays in it. Revoking or destroying a seal drops its key in
the instance that did it at once; any other instance refuses to sign with it from that commit on
(``sealing.sign`` checks the seal's status under its row lock before every use) and forgets the key
within the bound. A re-wrapped or replaced key (other ciphertext) is never served from here.
"""
import time

from gongwen_common import cms

from . import keys, seals  # seals drops keys here on revocation: the module, not its names


class Signers:
    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._held = {}  # seal serial -> (stored key identity, monotonic expiry, cms.SealTemplate)

    def template(self, seal, kek, lifetime_seconds: float) -> cms.SealTemplate:
        now = self._clock()
        for serial in [s for s, (_, expires, _) in self._held.items() if expires <= now]:
            del self._held[serial]
        stored = (seal.kek_id, seal.wrapped_data_key, seal.key_ciphertext)
        held = self._held.get(seal.serial)
        if held is not None and held[0] == stored:
            return held[2]
        template = cms.SealTemplate(keys.certificate_of(seal.certificate_pem),
                                    keys.load_key(seal, kek, seals.seal_aad(seal.serial)))
        if lifetime_seconds > 0:
            self._held[seal.serial] = (stored, now + lifetime_seconds, template)
        return template

    def drop(self, serial: str) -> None:
        self._held.pop(serial, None)

    def __contains__(self, serial: str) -> bool:
        return serial in self._held and self._held[serial][1] > self._clock()


SIGNERS = Signers()
