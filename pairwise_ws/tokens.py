"""Secret tokens: made random, stored hashed, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 24  # 192 bits, printed as 32 URL-safe characters


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def new_join_code() -> str:
    """A session's join code: 72 random bits, 12 URL-safe characters (it goes in a QR code)."""
    return secrets.token_urlsafe(9)


def hash_token(token: str) -> str:
    """SHA-256 of the token.

    Tokens are long random strings, so a fast hash is enough: there is nothing
    to brute-force that a slow KDF would protect.
    """
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), stored_hash)


def codes_match(given: str, expected: str) -> bool:
    """A code someone typed or linked (any text) is the expected one, in constant time."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


def hashes_match(a: str, b: str) -> bool:
    """Two stored hashes are the same (in constant time, like every comparison here)."""
    return hmac.compare_digest(a, b)
