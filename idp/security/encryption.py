"""Encryption at rest of private signing keys: AES-256-GCM under a key derived from
IDP_SECRET_KEY with HKDF-SHA256, so a copy of the database alone reveals no private key."""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = b"v1"


class DecryptionError(Exception):
    """Wrong IDP_SECRET_KEY, or a corrupted value."""


class Cipher:
    def __init__(self, secret_key: str, purpose: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"cpro-connect", info=purpose.encode()
        ).derive(secret_key.encode())
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: bytes, associated: bytes = b"") -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext, _VERSION + associated)
        return (_VERSION + b"." + base64.urlsafe_b64encode(nonce + sealed)).decode()

    def decrypt(self, token: str, associated: bytes = b"") -> bytes:
        try:
            version, _, body = token.encode().partition(b".")
            raw = base64.urlsafe_b64decode(body)
            if version != _VERSION:
                raise DecryptionError(f"unknown format {version!r}")
            return self._aead.decrypt(raw[:12], raw[12:], _VERSION + associated)
        except (InvalidTag, ValueError) as exc:
            raise DecryptionError(
                "cannot decrypt: wrong IDP_SECRET_KEY or corrupted value"
            ) from exc
