"""RFB protocol numbers (RFC 6143 and the community rfbproto spec)."""

from __future__ import annotations

import enum

__all__ = ["Encoding", "ClientMsg", "ServerMsg", "SecurityType", "CANONICAL_PIXEL_FORMAT"]


class Encoding(enum.IntEnum):
    """Encodings and pseudo-encodings, by their signed 32-bit number."""

    RAW = 0
    COPYRECT = 1
    RRE = 2
    HEXTILE = 5
    TIGHT = 7
    ZRLE = 16
    # pseudo-encodings
    DESKTOP_SIZE = -223
    LAST_RECT = -224
    CURSOR = -239
    EXTENDED_DESKTOP_SIZE = -308
    FENCE = -312
    CONTINUOUS_UPDATES = -313
    # ranges: base + level
    JPEG_QUALITY_0 = -32  # -32 + q, q = 0..9
    COMPRESS_LEVEL_0 = -256  # -256 + c, c = 0..9
    FINE_QUALITY_0 = -512  # -512 + q, q = 0..100
    SUBSAMPLE_444 = -768  # -768 + s: 444, 420, 422, grey

    @staticmethod
    def jpeg_quality(level: int) -> int:
        return -32 + level

    @staticmethod
    def compress_level(level: int) -> int:
        return -256 + level

    @staticmethod
    def fine_quality(level: int) -> int:
        return -512 + level

    @staticmethod
    def subsample(level: int) -> int:
        return -768 + level


class ClientMsg(enum.IntEnum):
    SET_PIXEL_FORMAT = 0
    SET_ENCODINGS = 2
    FRAMEBUFFER_UPDATE_REQUEST = 3
    KEY_EVENT = 4
    POINTER_EVENT = 5
    CLIENT_CUT_TEXT = 6
    ENABLE_CONTINUOUS_UPDATES = 150
    FENCE = 248


class ServerMsg(enum.IntEnum):
    FRAMEBUFFER_UPDATE = 0
    SET_COLOUR_MAP_ENTRIES = 1
    BELL = 2
    SERVER_CUT_TEXT = 3
    END_OF_CONTINUOUS_UPDATES = 150
    FENCE = 248


class SecurityType(enum.IntEnum):
    INVALID = 0
    NONE = 1
    VNC_AUTH = 2


# SetPixelFormat body: 32 bpp, depth 24, little-endian, true colour,
# max 255/255/255, shifts R=0 G=8 B=16, 3 bytes padding.
# In memory a pixel is then R, G, B, X; ZRLE CPIXEL and Tight TPIXEL are R, G, B.
CANONICAL_PIXEL_FORMAT = bytes([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 0, 8, 16, 0, 0, 0])
