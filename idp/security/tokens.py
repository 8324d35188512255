"""High-entropy secrets (client secrets, codes, tokens): generated here, stored as SHA-256.

A slow hash adds nothing for 256-bit random values and would slow the token endpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(stored_hash: str, presented: str) -> bool:
    return hmac.compare_digest(stored_hash, secret_hash(presented))
