"""Encryption of stored panel API keys (Fernet, with key rotation), masking and fingerprints."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ["DecryptError", "KeyBox"]


class DecryptError(ValueError):
    """A stored token that none of the configured keys can open (wrong or rotated-out SECRET_KEY)."""


def _fernet_key(secret: str) -> bytes:
    """A Fernet key for one configured secret.

    A proper Fernet key (urlsafe base64 of 32 bytes) is used as it is, so keys made with
    `Fernet.generate_key()` interoperate with other tools. Anything else is treated as a
    passphrase and hashed with SHA-256 into a key: operators paste arbitrary SECRET_KEY
    strings (a Django-style random string, a UUID...), and refusing them would only push
    them to invent a worse workaround. A passphrase is only as strong as its entropy,
    which is the operator's responsibility; no salt is used so that the same SECRET_KEY
    always opens the same data on every restart and every replica.
    """
    raw = secret.encode("utf-8")
    if len(raw) == 44:
        try:
            decoded = base64.b64decode(raw, altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        if len(decoded) == 32:
            return raw
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest())


def _split(secret_keys: Iterable[str] | str) -> list[str]:
    items = [secret_keys] if isinstance(secret_keys, str) else list(secret_keys)
    # Commas separate keys even inside list items, so a list read from an env var works too;
    # the price is that a passphrase cannot contain a comma.
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


class KeyBox:
    """Encrypts with the first key, decrypts with any of them (rotation: `"new,old"`)."""

    __slots__ = ("_count", "_fernet")

    def __init__(self, secret_keys: Iterable[str] | str) -> None:
        secrets = _split(secret_keys)
        if not secrets:
            raise ValueError("KeyBox needs at least one non-empty secret key")
        self._fernet = MultiFernet([Fernet(_fernet_key(secret)) for secret in secrets])
        self._count = len(secrets)

    def __repr__(self) -> str:
        return f"KeyBox(<{self._count} key{'s' if self._count != 1 else ''}>)"

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise DecryptError("stored key cannot be decrypted with the configured SECRET_KEY") from exc

    def rotate(self, token: str) -> str:
        """The same secret re-encrypted under the first (current) key."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError) as exc:
            raise DecryptError("stored key cannot be decrypted with the configured SECRET_KEY") from exc

    @staticmethod
    def mask(key: str) -> str:
        """`abcd…wxyz` for keys longer than 12 characters, `…wxyz` for shorter ones.

        Short keys show only their tail because first+last 4 of a 12-character key would
        give away two thirds of it; keys of 4 characters or fewer show nothing at all.
        """
        if len(key) > 12:
            return f"{key[:4]}…{key[-4:]}"
        if len(key) > 4:
            return f"…{key[-4:]}"
        return "…"

    @staticmethod
    def fingerprint(panel_url: str, key: str) -> str:
        """SHA-256 hex of the panel URL and the key: finds duplicates without decrypting.

        The newline separator keeps ("…/v2", "1abc") and ("…/v21", "abc") apart.
        """
        return hashlib.sha256(f"{panel_url}\n{key}".encode()).hexdigest()
