"""Key-encryption key and envelope encryption (crypto-shredding) for secrets at rest."""
import base64
import logging
import pickle

import pytest

from gongwen_common import keywrap
from gongwen_common.keywrap import KeyEncryptionKey, KeyUnavailable, WrappedSecret, unwrap_secret, wrap_secret

KEY = bytes(range(32))
CONFIGURED = base64.b64encode(KEY).decode()
SECRET = "印章私钥 PKCS#8 bytes".encode()


def configured(value=CONFIGURED):
    return KeyEncryptionKey.from_config(value, setting="SEAL_KEK", purpose="seal private keys")


def test_the_kek_round_trips_and_binds_the_associated_data():
    kek = configured()
    blob = kek.encrypt(SECRET, b"seal:42")
    assert kek.decrypt(blob, b"seal:42") == SECRET
    assert SECRET not in blob
    assert kek.encrypt(SECRET, b"seal:42") != blob  # a fresh nonce each time
    with pytest.raises(KeyUnavailable, match=kek.kek_id):
        kek.decrypt(blob, b"seal:43")
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(KeyUnavailable):
        kek.decrypt(bytes(tampered), b"seal:42")
    with pytest.raises(KeyUnavailable):
        kek.decrypt(b"short", b"seal:42")


def test_the_kek_id_names_the_key_and_another_key_cannot_decrypt():
    kek, other = configured(), configured(base64.b64encode(bytes(32)).decode())
    assert len(kek.kek_id) == 16 and kek.kek_id == configured().kek_id != other.kek_id
    with pytest.raises(KeyUnavailable):
        other.decrypt(kek.encrypt(SECRET, b"ad"), b"ad")


def test_envelope_round_trip_with_a_fresh_data_key_per_secret():
    kek = configured()
    first, second = wrap_secret(kek, SECRET, b"seal:1"), wrap_secret(kek, SECRET, b"seal:1")
    assert isinstance(first, WrappedSecret) and first.kek_id == kek.kek_id
    assert unwrap_secret(kek, first, b"seal:1") == SECRET == unwrap_secret(kek, second, b"seal:1")
    assert first.wrapped_data_key != second.wrapped_data_key and first.ciphertext != second.ciphertext
    assert SECRET not in first.ciphertext and SECRET not in first.wrapped_data_key
    assert unwrap_secret(kek, wrap_secret(kek, b"", b""), b"") == b""


def test_envelope_refuses_wrong_associated_data_another_kek_and_tampering():
    kek, other = configured(), configured(base64.b64encode(b"\x01" * 32).decode())
    wrapped = wrap_secret(kek, SECRET, b"seal:1")
    with pytest.raises(KeyUnavailable):
        unwrap_secret(kek, wrapped, b"seal:2")
    with pytest.raises(KeyUnavailable, match=wrapped.kek_id):
        unwrap_secret(other, wrapped, b"seal:1")
    # Even if the recorded kek_id is forged to match, the other key cannot open the data key.
    with pytest.raises(KeyUnavailable):
        unwrap_secret(other, WrappedSecret(other.kek_id, wrapped.wrapped_data_key, wrapped.ciphertext), b"seal:1")
    flipped = bytearray(wrapped.ciphertext)
    flipped[20] ^= 0x80
    with pytest.raises(KeyUnavailable):
        unwrap_secret(kek, WrappedSecret(wrapped.kek_id, wrapped.wrapped_data_key, bytes(flipped)), b"seal:1")
    # A data key moved from another secret does not open this one.
    moved = WrappedSecret(kek.kek_id, wrap_secret(kek, SECRET, b"seal:1").wrapped_data_key, wrapped.ciphertext)
    with pytest.raises(KeyUnavailable):
        unwrap_secret(kek, moved, b"seal:1")


@pytest.mark.parametrize(("value", "message"), [
    ("not base64!", "SEAL_KEK is not valid base64"),
    (base64.b64encode(bytes(16)).decode(), "SEAL_KEK must be base64 of exactly 32 bytes"),
    (base64.b64encode(bytes(33)).decode(), "SEAL_KEK must be base64 of exactly 32 bytes"),
])
def test_bad_configured_values_are_a_configuration_fault(value, message):
    with pytest.raises(KeyUnavailable, match=message):
        configured(value)


def test_a_configured_value_may_end_with_a_newline():
    assert configured(CONFIGURED + "\n").kek_id == configured().kek_id


def test_an_unset_kek_refuses_and_names_the_setting_unless_development_keys_are_allowed(monkeypatch):
    monkeypatch.delenv(keywrap.DEVELOPMENT_FLAG, raising=False)
    for unset in (None, "", "  \n"):
        with pytest.raises(KeyUnavailable, match=r"SEAL_KEK is not set.*GONGWEN_DEVELOPMENT_KEYS=1"):
            KeyEncryptionKey.from_config(unset, setting="SEAL_KEK", purpose="seal private keys")
    for off in ("0", "no", "false"):
        with pytest.raises(KeyUnavailable, match="SEAL_KEK is not set"):
            KeyEncryptionKey.from_config(None, setting="SEAL_KEK", purpose="seal private keys", development=off)
    monkeypatch.setenv(keywrap.DEVELOPMENT_FLAG, "0")
    with pytest.raises(KeyUnavailable, match="SEAL_KEK is not set"):
        KeyEncryptionKey.from_config(None, setting="SEAL_KEK", purpose="seal private keys")
    # A set KEK needs no flag.
    assert configured().kek_id == KeyEncryptionKey(KEY).kek_id


def test_with_the_development_flag_the_fallback_is_stable_and_warns_once_per_purpose(caplog, monkeypatch):
    monkeypatch.setattr(keywrap, "_warned_purposes", set())
    monkeypatch.setenv(keywrap.DEVELOPMENT_FLAG, "1")
    with caplog.at_level(logging.WARNING, logger="gongwen_common.keywrap"):
        first = KeyEncryptionKey.from_config(None, setting="SEAL_KEK", purpose="seal private keys")
        again = KeyEncryptionKey.from_config("", setting="SEAL_KEK", purpose="seal private keys")
        other = KeyEncryptionKey.from_config(None, setting="ARCHIVE_KEK", purpose="archived documents")
    monkeypatch.delenv(keywrap.DEVELOPMENT_FLAG)
    # The flag as a service's config says it, without the environment.
    configured_flag = KeyEncryptionKey.from_config(None, setting="SEAL_KEK", purpose="seal private keys",
                                                   development="true")
    assert first.kek_id == again.kek_id == configured_flag.kek_id != other.kek_id  # one fixed key per purpose
    assert first.decrypt(again.encrypt(SECRET, b"ad"), b"ad") == SECRET
    warnings = [r for r in caplog.records if r.name == "gongwen_common.keywrap"]
    assert len(warnings) == 2 and all(r.levelno == logging.WARNING for r in warnings)
    assert "SEAL_KEK" in warnings[0].getMessage() and "Not for production" in warnings[0].getMessage()
    assert "ARCHIVE_KEK" in warnings[1].getMessage()


def test_the_key_never_shows_in_repr_or_a_pickle():
    kek = configured()
    for text in (repr(kek), str(kek), f"{kek}"):
        assert text == f"KeyEncryptionKey(kek_id={kek.kek_id!r})"
        assert CONFIGURED not in text and KEY.hex() not in text
    with pytest.raises(TypeError):
        pickle.dumps(kek)
