"""VNC authentication (RFB security type 2, RFC 6143 section 7.2.2).

The server sends a random 16-byte challenge; the client DES-encrypts it (ECB,
two blocks) with a key made from the password and sends the 16 bytes back.

The key is the password's first 8 bytes, zero-padded to 8, with the bits of
each byte reversed (a quirk of the original VNC code's DES implementation,
which numbered key bits from the other end).  Only 8 bytes of a password take
part: longer passwords are silently truncated, as every VNC server and client
does, so ``"password"`` and ``"password123"`` give the same response.

A ``str`` password is encoded as UTF-8 (what a viewer running in a UTF-8
locale sends); pass ``bytes`` to choose the bytes exactly.
"""

from __future__ import annotations

from Crypto.Cipher import DES

from ..error import UsageError

__all__ = ["CHALLENGE_SIZE", "MAX_PASSWORD_BYTES", "password_bytes", "des_key", "vnc_auth_response"]

CHALLENGE_SIZE = 16
"""Length of the server's challenge and of our response, in bytes."""

MAX_PASSWORD_BYTES = 8
"""Bytes of the password that VNC authentication uses; the rest is ignored."""

# _REVERSED[b] is b with its 8 bits in reverse order.
_REVERSED = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def password_bytes(password: str | bytes) -> bytes:
    """The password as bytes: UTF-8 for a ``str``, unchanged for ``bytes``.

    :param password: the password.
    :return: its bytes (not yet truncated).
    :raises UsageError: if ``password`` is neither ``str`` nor bytes-like.
    """
    if isinstance(password, str):
        return password.encode("utf-8")
    if isinstance(password, (bytes, bytearray, memoryview)):
        return bytes(password)
    raise UsageError(f"password must be str or bytes, not {type(password).__name__}")


def des_key(password: str | bytes) -> bytes:
    """The 8-byte DES key VNC derives from ``password``.

    The first 8 bytes of the password (longer passwords are truncated), padded
    with zero bytes, each byte bit-reversed.

    :param password: the password (``str`` is UTF-8 encoded).
    :return: the 8-byte key for :class:`Crypto.Cipher.DES`.
    """
    raw = password_bytes(password)[:MAX_PASSWORD_BYTES].ljust(MAX_PASSWORD_BYTES, b"\0")
    return raw.translate(_REVERSED)


def vnc_auth_response(challenge: bytes, password: str | bytes) -> bytes:
    """Encrypt the server's challenge for VNC authentication.

    :param challenge: the 16 bytes the server sent.
    :param password: the password; only its first 8 bytes are used.
    :return: the 16-byte response to send to the server.
    :raises UsageError: if ``challenge`` is not 16 bytes long.
    """
    challenge = bytes(challenge)
    if len(challenge) != CHALLENGE_SIZE:
        raise UsageError(f"VNC auth challenge must be {CHALLENGE_SIZE} bytes, got {len(challenge)}")
    return DES.new(des_key(password), DES.MODE_ECB).encrypt(challenge)
