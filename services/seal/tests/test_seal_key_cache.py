"""Unwrapped seal keys in memory for a bounded time (issue 15): a sign does no unwrap while its seal's
key is held, the bound is counted from the unwrap, and revocation drops the key at once."""
import pytest

from gongwen_seal.domain import keys, signers
from gongwen_seal.models import Base

from .conftest import SealWorld


class Unwraps(list):
    clock = None


class Ticking:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def unwraps(monkeypatch):
    """Every key unwrap the seal service makes, counted; a fresh cache on a clock the test moves."""
    made, clock, load = Unwraps(), Ticking(), keys.load_key

    def counted(row, kek, aad):
        if hasattr(row, "serial"):  # a seal's key, not the CA's (which issuing a seal opens)
            made.append(row.serial)
        return load(row, kek, aad)

    monkeypatch.setattr(keys, "load_key", counted)
    monkeypatch.setattr(signers, "SIGNERS", signers.Signers(clock))
    made.clock = clock
    return made


def manifests(seals, count):
    return [seals.document("gz-fgw", doc_number=f"穗发改〔2026〕{n}号") for n in range(count)]


def test_a_seal_signs_again_without_unwrapping_its_key(seals, unwraps):
    serial = seals.active_seal("gz-fgw")["serial"]
    for manifest in manifests(seals, 3):
        assert seals.verify(manifest, seals.sign("gz-fgw", manifest)["signature"])["valid"]
    assert unwraps == [serial]


def test_an_unwrapped_seal_key_is_forgotten_once_its_bound_has_passed(seals, unwraps):
    serial = seals.active_seal("gz-fgw")["serial"]
    first, second, third = manifests(seals, 3)
    seals.sign("gz-fgw", first)
    unwraps.clock.now += 299
    seals.sign("gz-fgw", second)
    assert serial in signers.SIGNERS and unwraps == [serial]  # held 299 s after its unwrap, however busy
    unwraps.clock.now += 2
    assert serial not in signers.SIGNERS
    seals.sign("gz-fgw", third)
    assert unwraps == [serial, serial]


def test_revoking_a_seal_drops_its_unwrapped_key_at_once(seals, unwraps):
    serial = seals.active_seal("gz-fgw")["serial"]
    first, second = manifests(seals, 2)
    seals.sign("gz-fgw", first)
    assert serial in signers.SIGNERS
    seals.call("revoke_seal", serial, {"reason": "印章遗失"}, seals.admin("gz-fgw"))
    assert serial not in signers.SIGNERS
    assert seals.refused("sign", "gz-fgw", seals.b64(second), seals.clerk("gz-fgw")).code == "SEAL_NOT_ACTIVE"


def test_a_key_cache_of_zero_seconds_unwraps_for_every_seal(sqlite_session, unwraps):
    seals = SealWorld(sqlite_session(Base), config={"SEAL_KEY_CACHE_SECONDS": "0"})
    serial = seals.active_seal("gz-fgw")["serial"]
    for manifest in manifests(seals, 2):
        seals.sign("gz-fgw", manifest)
    assert unwraps == [serial, serial] and serial not in signers.SIGNERS
