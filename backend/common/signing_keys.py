"""The server's Ed25519 signing key and the public keys that verify older signatures.

Used by field-record signatures (backend.signatures) and the audit log's signed checkpoints
(backend.audit); it lives here so that neither app imports the other for it.

Settings (read at first use, not at import):
- `SIGNING_KEY`: the private key, PEM (PKCS#8) or 64 hex characters (the 32-byte seed).
  Missing in development (DJANGO_DEVELOPMENT / DEBUG): a stable key is derived from SECRET_KEY
  and a warning logged. Missing elsewhere: ImproperlyConfigured at first use.
- `SIGNING_KEY_ID`: the id stored with each signature; default `ed25519:<first 16 hex of the
  SHA-256 of the public key>`.
- `SIGNING_PUBLIC_KEYS`: rotated-out keys still needed to verify old signatures, a JSON object
  (or dict) key_id → public key (64 hex characters, or PEM).

Each is taken from django.conf.settings, else from the environment variable of the same name.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

HEX_KEY = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()


def _setting(name: str, default=None):
    value = getattr(settings, name, None)
    if value in (None, ""):
        value = os.environ.get(name, default)
    return value


def public_key_hex(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def default_key_id(public_key: Ed25519PublicKey) -> str:
    return "ed25519:" + hashlib.sha256(bytes.fromhex(public_key_hex(public_key))).hexdigest()[:16]


def _parse_private(text: str) -> Ed25519PrivateKey:
    text = text.strip()
    if HEX_KEY.match(text):
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(text))
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError) as error:
            raise ImproperlyConfigured("SIGNING_KEY is not a readable PEM private key.") from error
        if not isinstance(key, Ed25519PrivateKey):
            raise ImproperlyConfigured("SIGNING_KEY must be an Ed25519 key.")
        return key
    raise ImproperlyConfigured("SIGNING_KEY must be an Ed25519 PEM private key or 64 hexadecimal characters.")


def _parse_public(text: str) -> Ed25519PublicKey:
    text = text.strip()
    if HEX_KEY.match(text):
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode())
        except (ValueError, TypeError) as error:
            raise ImproperlyConfigured("A SIGNING_PUBLIC_KEYS entry is not a readable PEM public key.") from error
        if not isinstance(key, Ed25519PublicKey):
            raise ImproperlyConfigured("SIGNING_PUBLIC_KEYS entries must be Ed25519 keys.")
        return key
    raise ImproperlyConfigured("SIGNING_PUBLIC_KEYS entries must be 64 hexadecimal characters or PEM.")


def _is_development() -> bool:
    return bool(getattr(settings, "DEVELOPMENT", False) or getattr(settings, "DEBUG", False))


_warned = False


def signing_key() -> SigningKey:
    """The current key; ImproperlyConfigured outside development when SIGNING_KEY is missing."""
    global _warned
    text = _setting("SIGNING_KEY", "")
    if text:
        private_key = _parse_private(str(text))
    elif _is_development():
        seed = hashlib.sha256(b"signatures-development-key:" + str(settings.SECRET_KEY).encode()).digest()
        private_key = Ed25519PrivateKey.from_private_bytes(seed)
        if not _warned:
            logger.warning("SIGNING_KEY is not set: signing with a development key derived from SECRET_KEY.")
            _warned = True
    else:
        raise ImproperlyConfigured("SIGNING_KEY is required outside development (Ed25519, PEM or 64 hex).")
    key_id = str(_setting("SIGNING_KEY_ID", "") or default_key_id(private_key.public_key()))
    return SigningKey(key_id=key_id, private_key=private_key)


def public_keys() -> dict[str, Ed25519PublicKey]:
    """key_id → public key: the rotated-out keys of SIGNING_PUBLIC_KEYS, and the current key."""
    raw = _setting("SIGNING_PUBLIC_KEYS", {}) or {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as error:
            raise ImproperlyConfigured("SIGNING_PUBLIC_KEYS must be a JSON object key_id → public key.") from error
    if not isinstance(raw, dict):
        raise ImproperlyConfigured("SIGNING_PUBLIC_KEYS must be a JSON object key_id → public key.")
    keys = {str(key_id): _parse_public(str(value)) for key_id, value in raw.items()}
    try:
        current = signing_key()
    except ImproperlyConfigured:
        # Verifying with the old keys still works on a server that no longer signs.
        return keys
    keys[current.key_id] = current.public_key
    return keys


def base64_signature(key: SigningKey, message: bytes) -> str:
    return base64.b64encode(key.private_key.sign(message)).decode("ascii")


def verify(message: bytes, signature_b64: str, key_id: str) -> str | None:
    """None when the signature is good, else the reason: `unknown_key` or `bad_signature`."""
    public_key = public_keys().get(key_id)
    if public_key is None:
        return "unknown_key"
    try:
        signature = base64.b64decode(signature_b64.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return "bad_signature"
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return "bad_signature"
    return None
