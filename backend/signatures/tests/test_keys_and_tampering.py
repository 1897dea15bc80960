"""The server signature: every single-bit change of the signed message or of the signature
fails; keys from settings (hex, PEM), rotated keys, unknown keys, missing keys in production."""

import base64
import json
import logging

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import ImproperlyConfigured

from backend.common import signing_keys as keys
from backend.signatures.models import Signature
from backend.signatures.services import signature_message, signature_verify
from backend.signatures.tests.factories import official_of, sign, submitted_survey

pytestmark = pytest.mark.django_db

SEED_HEX = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"  # RFC 8032 test 1
PUBLIC_HEX = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"


@pytest.fixture
def signed():
    survey, (first, _second), _ = submitted_survey(attending=2, absent=0)
    return sign("survey", survey, official_of(first))


def _flips(data: bytes):
    for index in range(len(data)):
        for bit in range(8):
            flipped = bytearray(data)
            flipped[index] ^= 1 << bit
            yield bytes(flipped)


def test_every_single_bit_flip_of_the_message_or_the_signature_fails(signed):
    public_key = keys.public_keys()[signed.key_id]
    message = signature_message(signed)
    signature = base64.b64decode(signed.server_signature)
    public_key.verify(signature, message)  # the untouched pair verifies

    accepted = []
    for flipped in _flips(message):
        try:
            public_key.verify(signature, flipped)
            accepted.append(flipped)
        except InvalidSignature:
            pass
    for flipped in _flips(signature):
        try:
            public_key.verify(flipped, message)
            accepted.append(flipped)
        except InvalidSignature:
            pass
    assert accepted == []
    assert len(message) > 400 and len(signature) == 64


def test_the_message_covers_hash_signer_time_and_image(signed):
    message = signature_message(signed).decode()
    for fact in (
        signed.content_hash,
        signed.signer_name,
        signed.image_id,
        str(signed.record_id),
        '"record_type":"survey"',
        signed.signed_at.isoformat(),
    ):
        assert fact in message


def test_verify_valid(signed):
    outcome = signature_verify(signature=signed)
    assert (outcome["valid"], outcome["reason"], outcome["current_hash"]) == (True, None, signed.content_hash)


def test_hex_key_from_settings_signs_with_its_id(settings):
    settings.SIGNING_KEY = SEED_HEX
    settings.SIGNING_KEY_ID = "2026-01"
    key = keys.signing_key()
    assert (key.key_id, keys.public_key_hex(key.public_key)) == ("2026-01", PUBLIC_HEX)


def test_pem_key_from_settings(settings):
    private_key = Ed25519PrivateKey.generate()
    settings.SIGNING_KEY = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    settings.SIGNING_KEY_ID = ""
    key = keys.signing_key()
    assert keys.public_key_hex(key.public_key) == keys.public_key_hex(private_key.public_key())
    assert key.key_id == keys.default_key_id(private_key.public_key())


def test_missing_key_outside_development_is_improperly_configured(settings, monkeypatch):
    monkeypatch.delenv("SIGNING_KEY", raising=False)
    settings.SIGNING_KEY = ""
    settings.DEVELOPMENT = False
    settings.DEBUG = False
    with pytest.raises(ImproperlyConfigured):
        keys.signing_key()


def test_bad_key_is_improperly_configured(settings):
    settings.SIGNING_KEY = "not a key"
    with pytest.raises(ImproperlyConfigured):
        keys.signing_key()


def test_development_key_is_stable_and_warned(settings, caplog, monkeypatch):
    monkeypatch.delenv("SIGNING_KEY", raising=False)
    monkeypatch.setattr(keys, "_warned", False)
    settings.SIGNING_KEY = ""
    settings.DEVELOPMENT = True
    with caplog.at_level(logging.WARNING, logger="backend.common.signing_keys"):
        first = keys.signing_key()
    second = keys.signing_key()
    assert keys.public_key_hex(first.public_key) == keys.public_key_hex(second.public_key)
    assert [record.getMessage() for record in caplog.records] == [
        "SIGNING_KEY is not set: signing with a development key derived from SECRET_KEY."
    ]


def test_rotated_key_still_verifies_and_unknown_key_is_reported(settings):
    settings.SIGNING_KEY = SEED_HEX
    settings.SIGNING_KEY_ID = "2025-old"
    survey, (first, _second), _ = submitted_survey(attending=2, absent=0)
    old = sign("survey", survey, official_of(first))
    assert old.key_id == "2025-old"

    settings.SIGNING_KEY = Ed25519PrivateKey.generate().private_bytes_raw().hex()
    settings.SIGNING_KEY_ID = "2026-new"
    assert signature_verify(signature=old)["reason"] == "unknown_key"

    settings.SIGNING_PUBLIC_KEYS = {"2025-old": PUBLIC_HEX}
    assert signature_verify(signature=old)["valid"] is True
    settings.SIGNING_PUBLIC_KEYS = json.dumps({"2025-old": PUBLIC_HEX})
    assert signature_verify(signature=old)["valid"] is True

    # A wrong public key under the right id is a bad signature, not a valid one.
    settings.SIGNING_PUBLIC_KEYS = {"2025-old": keys.public_key_hex(Ed25519PrivateKey.generate().public_key())}
    assert signature_verify(signature=old)["reason"] == "bad_signature"


def test_altered_stored_signature_is_bad(signed):
    raw = bytearray(base64.b64decode(signed.server_signature))
    raw[0] ^= 1
    Signature.objects.filter(pk=signed.pk).update(server_signature=base64.b64encode(bytes(raw)).decode())
    assert signature_verify(signature=signed)["reason"] == "bad_signature"
    Signature.objects.filter(pk=signed.pk).update(server_signature="***")
    assert signature_verify(signature=signed)["reason"] == "bad_signature"


def test_replaced_image_bytes_are_detected(signed):
    from backend.evidence.blobs import blob_local_path

    path = blob_local_path(blob=signed.image)
    path.write_bytes(path.read_bytes() + b"\0")
    assert signature_verify(signature=signed)["reason"] == "image_changed"
