"""Sans-IO RFB client protocol (RFB 3.3, 3.7 and 3.8; RFC 6143).

:class:`RFBClientProtocol` is a state machine in the style of h11: bytes from
the server go in (:meth:`~RFBClientProtocol.receive_data`, or the zero-copy
pair :meth:`~RFBClientProtocol.get_buffer` /
:meth:`~RFBClientProtocol.buffer_updated`), events come out
(:meth:`~RFBClientProtocol.next_event`), and bytes for the server accumulate
until :meth:`~RFBClientProtocol.data_to_send` takes them.  It never touches a
socket, a thread or a clock; :mod:`vncenv.vnc.session` does that.

A minimal driver::

    proto = RFBClientProtocol(encodings=build_encodings("tight"))
    while proto.state is not State.CLOSED:
        sock.sendall(proto.data_to_send())
        proto.receive_data(sock.recv(1 << 16))
        for event in proto.events():
            ...

FramebufferUpdate messages are framed and decoded by the decode core
(``decoder.feed``: one call per whole update); this module handles the
handshake and the small messages.

Errors (see :mod:`vncenv.error`): bytes that break RFB raise
:class:`~vncenv.error.ProtocolError`; a refused handshake raises
:class:`~vncenv.error.AuthenticationError`; an EOF inside a message or during
the handshake raises :class:`~vncenv.error.ConnectionClosed` (``clean=False``).
Each of them moves the protocol to the terminal ``ERROR`` state, after which
every method raises again (the same class; client-message methods raise
:class:`~vncenv.error.UsageError`).
"""

from __future__ import annotations

import enum
import operator
import re
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..error import AuthenticationError, ConnectionClosed, Error, InternalError, ProtocolError, UsageError
from ..limits import DEFAULT_LIMITS, Limits
from . import events
from .auth import CHALLENGE_SIZE, password_bytes, vnc_auth_response
from .constants import CANONICAL_PIXEL_FORMAT, ClientMsg, Encoding, SecurityType, ServerMsg

__all__ = [
    "State",
    "RFBClientProtocol",
    "build_encodings",
    "encode_key_event",
    "encode_pointer_event",
    "encode_client_cut_text",
    "encode_update_request",
    "DecoderFactory",
    "FramebufferFactory",
]

DecoderFactory = Callable[[Any, Sequence[int], Limits], Any]
"""``decoder_factory(framebuffer, encodings, limits)`` -> an ``UpdateDecoder``."""

FramebufferFactory = Callable[[int, int], Any]
"""``framebuffer_factory(width, height)`` -> a ``Framebuffer``."""


class State(enum.Enum):
    """Where the protocol is; see the transition table below."""

    PROTOCOL_VERSION = "PROTOCOL_VERSION"  # waiting for "RFB xxx.yyy\n"
    SECURITY_TYPES = "SECURITY_TYPES"  # 3.7+: u8 n, n security types
    SECURITY_TYPE_33 = "SECURITY_TYPE_33"  # 3.3: u32 type chosen by the server
    VNC_AUTH_CHALLENGE = "VNC_AUTH_CHALLENGE"  # 16-byte challenge
    SECURITY_RESULT = "SECURITY_RESULT"  # u32 result
    SECURITY_FAILURE_REASON = "SECURITY_FAILURE_REASON"  # u32 length, reason; then ERROR
    SERVER_INIT = "SERVER_INIT"  # ClientInit sent; waiting for ServerInit
    NORMAL = "NORMAL"  # server-to-client messages
    CLOSED = "CLOSED"  # the server closed the connection between messages
    ERROR = "ERROR"  # terminal; every call raises


# -----------------------------------------------------------------------------
# The transition table.
#
# Rules:
#
# * The handshake is one line with a few forks.  A state's handler reads one
#   whole message and then calls ``_advance(trigger)``; the next state is
#   ``_TRANSITIONS[state][trigger]``.  A pair that is not in the table is a bug
#   in this module (InternalError), never the server's fault.
# * Every state may go to ERROR (``_fail``): a ProtocolError, an
#   AuthenticationError or an unclean ConnectionClosed.  ERROR and CLOSED are
#   terminal.
# * Entering SERVER_INIT sends ClientInit (an entry action of ``_set_state``),
#   so each of the four ways into it sends it exactly once.
# * SECURITY_FAILURE_REASON always ends in ERROR: it reads the reason string
#   and raises AuthenticationError with it.
# * In NORMAL every server message is legal at any time (RFB has no
#   sub-states there), so NORMAL is one dispatch on the message type byte.
#
#   state                 trigger           next state               we send
#   --------------------  ----------------  -----------------------  ----------------
#   PROTOCOL_VERSION      "3.3"             SECURITY_TYPE_33         RFB 003.003\n
#   PROTOCOL_VERSION      "3.7+"            SECURITY_TYPES           RFB 003.007/8\n
#   SECURITY_TYPES        "vnc auth"        VNC_AUTH_CHALLENGE       u8 2
#   SECURITY_TYPES        "none, 3.8"       SECURITY_RESULT          u8 1
#   SECURITY_TYPES        "none, 3.7"       SERVER_INIT              u8 1, ClientInit
#   SECURITY_TYPES        "refused"         SECURITY_FAILURE_REASON  -        (n = 0)
#   SECURITY_TYPE_33      "vnc auth"        VNC_AUTH_CHALLENGE       -
#   SECURITY_TYPE_33      "none"            SERVER_INIT              ClientInit
#   SECURITY_TYPE_33      "refused"         SECURITY_FAILURE_REASON  -        (type 0)
#   VNC_AUTH_CHALLENGE    "challenge"       SECURITY_RESULT          16-byte response
#   SECURITY_RESULT       "ok"              SERVER_INIT              ClientInit
#   SECURITY_RESULT       "failed, 3.8"     SECURITY_FAILURE_REASON  -
#   SERVER_INIT           "server init"     NORMAL                   SetPixelFormat,
#                                                                    SetEncodings,
#                                                                    FramebufferUpdateRequest
#   NORMAL                "eof"             CLOSED                   -
#
# (SECURITY_RESULT failing on 3.3/3.7 carries no reason: straight to ERROR.)
# -----------------------------------------------------------------------------

_TRANSITIONS: dict[State, dict[str, State]] = {
    State.PROTOCOL_VERSION: {
        "3.3": State.SECURITY_TYPE_33,
        "3.7+": State.SECURITY_TYPES,
    },
    State.SECURITY_TYPES: {
        "vnc auth": State.VNC_AUTH_CHALLENGE,
        "none, 3.8": State.SECURITY_RESULT,
        "none, 3.7": State.SERVER_INIT,
        "refused": State.SECURITY_FAILURE_REASON,
    },
    State.SECURITY_TYPE_33: {
        "vnc auth": State.VNC_AUTH_CHALLENGE,
        "none": State.SERVER_INIT,
        "refused": State.SECURITY_FAILURE_REASON,
    },
    State.VNC_AUTH_CHALLENGE: {"challenge": State.SECURITY_RESULT},
    State.SECURITY_RESULT: {
        "ok": State.SERVER_INIT,
        "failed, 3.8": State.SECURITY_FAILURE_REASON,
    },
    State.SECURITY_FAILURE_REASON: {},
    State.SERVER_INIT: {"server init": State.NORMAL},
    State.NORMAL: {"eof": State.CLOSED},
    State.CLOSED: {},
    State.ERROR: {},
}

_ALLOWED: dict[State, frozenset[State]] = {
    state: frozenset(targets.values()) | {State.ERROR} for state, targets in _TRANSITIONS.items()
}

_HANDSHAKE_STATES = frozenset(
    {
        State.PROTOCOL_VERSION,
        State.SECURITY_TYPES,
        State.SECURITY_TYPE_33,
        State.VNC_AUTH_CHALLENGE,
        State.SECURITY_RESULT,
        State.SECURITY_FAILURE_REASON,
        State.SERVER_INIT,
    }
)

# -----------------------------------------------------------------------------
# Wire constants
# -----------------------------------------------------------------------------

_BANNER_TEMPLATE = b"RFB ddd.ddd\n"  # 'd': an ASCII digit
_BANNER_RE = re.compile(rb"RFB (\d{3})\.(\d{3})\n")
_BANNER_LEN = 12

_SECURITY_TYPE_NAMES = {
    0: "Invalid",
    1: "None",
    2: "VNC authentication",
    5: "RA2",
    6: "RA2ne",
    16: "Tight",
    17: "Ultra",
    18: "TLS",
    19: "VeNCrypt",
    20: "GTK-VNC SASL",
    21: "MD5 hash",
    22: "Colin Dean xvp",
    30: "Apple Remote Desktop",
    113: "MSLogonII",
}

_FENCE_REQUEST = 1 << 31
_FENCE_SUPPORTED_FLAGS = 0b111  # BlockBefore, BlockAfter, SyncNext
_FENCE_MAX_PAYLOAD = 64

_U16_MAX = 0xFFFF
_U32_MAX = 0xFFFFFFFF

# Receive buffer: never hand out less than this; grow geometrically.
_MIN_READ = 64 * 1024
_COALESCE_MAX = 1 << 30  # back-to-back updates one decoder call may take (bounded by the buffer)

_NEED_DATA = None  # a handler's "wait for more bytes"
_AGAIN = object()  # a handler's "consumed a message that makes no event: loop"

_CLOSED_EVENT = events.ConnectionClosed(clean=True)
_BELL_EVENT = events.Bell()
_END_OF_CU_EVENT = events.EndOfContinuousUpdates()


# -----------------------------------------------------------------------------
# SetEncodings helper
# -----------------------------------------------------------------------------

_ENCODING_PREFERENCES = {
    # The chosen encoding, then the others we are willing to receive.  Asking
    # for ZRLE leaves Tight out so that the server cannot pick it.
    "tight": (Encoding.TIGHT, Encoding.ZRLE, Encoding.RAW),
    "zrle": (Encoding.ZRLE, Encoding.RAW),
    "raw": (Encoding.RAW,),
}


def _level(name: str, value: int | None, top: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise UsageError(f"{name} must be an int in 0..{top}, not {value!r}")
    try:
        level = operator.index(value)
    except TypeError:
        raise UsageError(f"{name} must be an int in 0..{top}, not {value!r}") from None
    if not 0 <= level <= top:
        raise UsageError(f"{name} must be in 0..{top}, got {level}")
    return level


def build_encodings(
    encoding: str = "tight",
    *,
    quality_level: int | None = None,
    compress_level: int | None = None,
    fine_quality_level: int | None = None,
    subsample_level: int | None = None,
    cursor: bool = False,
    copyrect: bool = True,
    desktop_size: bool = True,
    last_rect: bool = True,
) -> list[int]:
    """The SetEncodings list, in order of preference.

    * ``"tight"``: Tight, ZRLE, Raw; ``"zrle"``: ZRLE, Raw (Tight is left out,
      so the server cannot choose it); ``"raw"``: Raw only.
    * then CopyRect (unless ``copyrect=False``);
    * then the pseudo-encodings: JPEG quality ``-32 + q``, compress level
      ``-256 + c``, fine quality ``-512 + q``, subsampling ``-768 + s``
      (each only if given), DesktopSize and ExtendedDesktopSize (unless
      ``desktop_size=False``), LastRect (unless ``last_rect=False``), and
      Cursor only if ``cursor=True``.

    Tight is lossless unless a quality is given: pass neither
    ``quality_level`` nor ``fine_quality_level`` and TigerVNC, TurboVNC and
    libvncserver never send JPEG.

    :param encoding: ``"tight"``, ``"zrle"`` or ``"raw"``.
    :param quality_level: JPEG quality 0..9 (Tight).
    :param compress_level: zlib effort 0..9 (Tight).
    :param fine_quality_level: TurboVNC/TigerVNC JPEG quality 0..100.
    :param subsample_level: JPEG chroma subsampling 0..3: 4:4:4, 4:2:0, 4:2:2, grey.
    :param cursor: ask for the cursor shape (Cursor pseudo-encoding).
    :param copyrect: allow CopyRect.
    :param desktop_size: follow server-side resizes.
    :param last_rect: allow LastRect-terminated updates.
    :return: the list of signed 32-bit encoding numbers.
    :raises UsageError: for an unknown encoding or a level out of range.
    """
    if not isinstance(encoding, str) or encoding.lower() not in _ENCODING_PREFERENCES:
        raise UsageError(f"encoding must be one of {sorted(_ENCODING_PREFERENCES)}, not {encoding!r}")
    q = _level("quality_level", quality_level, 9)
    c = _level("compress_level", compress_level, 9)
    fq = _level("fine_quality_level", fine_quality_level, 100)
    s = _level("subsample_level", subsample_level, 3)

    out = [int(e) for e in _ENCODING_PREFERENCES[encoding.lower()]]
    if copyrect:
        out.append(Encoding.COPYRECT)
    if q is not None:
        out.append(Encoding.jpeg_quality(q))
    if c is not None:
        out.append(Encoding.compress_level(c))
    if fq is not None:
        out.append(Encoding.fine_quality(fq))
    if s is not None:
        out.append(Encoding.subsample(s))
    if desktop_size:
        out += [Encoding.DESKTOP_SIZE, Encoding.EXTENDED_DESKTOP_SIZE]
    if last_rect:
        out.append(Encoding.LAST_RECT)
    if cursor:
        out.append(Encoding.CURSOR)
    return [int(e) for e in out]


# -----------------------------------------------------------------------------
# Small helpers
# -----------------------------------------------------------------------------


def _uint(name: str, value: Any, top: int) -> int:
    """``value`` as an int in ``0..top``, or UsageError."""
    if isinstance(value, bool):
        raise UsageError(f"{name} must be an int, not {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise UsageError(f"{name} must be an int, not {type(value).__name__}") from None
    if not 0 <= v <= top:
        raise UsageError(f"{name} must be in 0..{top}, got {v}")
    return v


def _decode_text(raw: bytes) -> str:
    """Server strings: UTF-8 if valid (modern servers), else Latin-1 (RFB's original)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _banner_prefix_ok(head: bytes) -> bool:
    """Whether ``head`` can start an ``RFB xxx.yyy\\n`` banner."""
    for got, want in zip(head, _BANNER_TEMPLATE):
        if want == 0x64:  # 'd'
            if not 0x30 <= got <= 0x39:
                return False
        elif got != want:
            return False
    return True


def _security_type_list(types: bytes) -> str:
    return ", ".join(f"{t} ({_SECURITY_TYPE_NAMES.get(t, 'unknown')})" for t in types) or "none"


# -----------------------------------------------------------------------------
# Client-to-server messages, as pure functions (RFC 6143 section 7.5)
#
# Input messages carry no protocol state, so a session may encode them on the
# caller's thread without touching the protocol object; the protocol's methods
# below use the same functions.
# -----------------------------------------------------------------------------


def encode_key_event(keysym: int, down: bool) -> bytes:
    """A KeyEvent message.

    :param keysym: an X11 keysym (see :mod:`vncenv.vnc.keysyms`), 0..2**32-1.
    :param down: pressed (True) or released (False).
    :raises UsageError: a keysym out of range or not an int.
    """
    keysym = _uint("keysym", keysym, _U32_MAX)
    return struct.pack(">BBxxI", ClientMsg.KEY_EVENT, bool(down), keysym)


def encode_pointer_event(x: int, y: int, buttons: int) -> bytes:
    """A PointerEvent message.

    :param x: 0..65535 (servers clip to the screen).
    :param y: 0..65535.
    :param buttons: button mask 0..255; bit 0 is the left button, 1 middle,
        2 right, 3/4 wheel up/down.
    :raises UsageError: a value out of range or not an int.
    """
    x = _uint("x", x, _U16_MAX)
    y = _uint("y", y, _U16_MAX)
    buttons = _uint("buttons", buttons, 0xFF)
    return struct.pack(">BBHH", ClientMsg.POINTER_EVENT, buttons, x, y)


def encode_client_cut_text(text: str) -> bytes:
    """A ClientCutText message (RFB text is Latin-1).

    :raises UsageError: ``text`` is not a ``str`` or not Latin-1 encodable.
    """
    if not isinstance(text, str):
        raise UsageError(f"cut text must be a str, not {type(text).__name__}")
    try:
        data = text.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise UsageError(f"ClientCutText must be Latin-1 encodable: {exc}") from None
    if len(data) > _U32_MAX:  # pragma: no cover - 4 GiB of text
        raise UsageError("ClientCutText too long")
    return struct.pack(">B3xI", ClientMsg.CLIENT_CUT_TEXT, len(data)) + data


def encode_update_request(incremental: bool, x: int, y: int, width: int, height: int) -> bytes:
    """A FramebufferUpdateRequest message.

    :raises UsageError: a value outside 0..65535 or not an int.
    """
    x = _uint("x", x, _U16_MAX)
    y = _uint("y", y, _U16_MAX)
    width = _uint("width", width, _U16_MAX)
    height = _uint("height", height, _U16_MAX)
    return struct.pack(">BBHHHH", ClientMsg.FRAMEBUFFER_UPDATE_REQUEST, bool(incremental), x, y, width, height)


# -----------------------------------------------------------------------------
# The protocol
# -----------------------------------------------------------------------------


class RFBClientProtocol:
    """Sans-IO RFB client: bytes in, events out, bytes to send.

    :param password: for VNC authentication; ``None`` means "no password".
        A ``str`` is UTF-8 encoded; only the first 8 bytes are used (see
        :mod:`vncenv.vnc.auth`).  Given a password, VNC authentication is
        preferred; without one, security type None.
    :param encodings: the SetEncodings list (see :func:`build_encodings`),
        also given to the decoder, which refuses rects in any other encoding.
    :param limits: caps on what the server may make us allocate.
    :param shared: the ClientInit flag: leave other clients connected.
    :param decoder_factory: ``decoder_factory(framebuffer, encodings, limits)``;
        defaults to ``vncenv._backend.UpdateDecoder``.
    :param framebuffer_factory: ``framebuffer_factory(width, height)``;
        defaults to ``vncenv._backend.Framebuffer``.  Give both factories from
        the same backend.
    :param coalesce_updates: report whole FramebufferUpdates that arrived
        back to back as one event (decoded in one decoder call; the
        decoder must take ``feed(data, offset, max_updates)``).  Off, every
        update is its own event.  Also an attribute, settable any time.
    :raises UsageError: for a bad argument.
    :raises ImportError: if a default factory is needed and no decode backend
        can be imported (the message says how to build one).
    """

    def __init__(
        self,
        *,
        password: str | bytes | None = None,
        encodings: Sequence[int],
        limits: Limits = DEFAULT_LIMITS,
        shared: bool = True,
        decoder_factory: DecoderFactory | None = None,
        framebuffer_factory: FramebufferFactory | None = None,
        coalesce_updates: bool = False,
    ) -> None:
        if not isinstance(limits, Limits):
            raise UsageError(f"limits must be a vncenv.Limits, not {type(limits).__name__}")
        if isinstance(encodings, (str, bytes)) or not isinstance(encodings, Sequence):
            raise UsageError("encodings must be a sequence of ints (see build_encodings())")
        checked = []
        for e in encodings:
            if isinstance(e, bool):
                raise UsageError(f"encodings must be ints, got {e!r}")
            try:
                e = operator.index(e)
            except TypeError:
                raise UsageError(f"encodings must be ints, got {e!r}") from None
            if not -(1 << 31) <= e < (1 << 31):
                raise UsageError(f"encoding {e} is not a signed 32-bit int")
            checked.append(e)
        if len(checked) > _U16_MAX:
            raise UsageError("too many encodings")
        if decoder_factory is None or framebuffer_factory is None:
            from .. import _backend  # lazily: the module itself imports without the core

            decoder_factory = decoder_factory or _backend.UpdateDecoder
            framebuffer_factory = framebuffer_factory or _backend.Framebuffer

        self._password: bytes | None = None if password is None else password_bytes(password)
        self._encodings: tuple[int, ...] = tuple(checked)
        self._limits = limits
        self._shared = bool(shared)
        self._decoder_factory: DecoderFactory = decoder_factory
        self._framebuffer_factory: FramebufferFactory = framebuffer_factory

        self._state = State.PROTOCOL_VERSION
        self._error: Error | None = None
        self._server_version: tuple[int, int] | None = None
        self._version: tuple[int, int] | None = None
        self._security_type: SecurityType | None = None
        self._failure_prefix = ""
        self._name: str | None = None
        self._framebuffer: Any = None
        self._decoder: Any = None
        self._update_outstanding = False
        #: Decode back-to-back whole FramebufferUpdates in one decoder call and
        #: report them as one event (its ``updates`` counts them).  Settable
        #: at any time; it applies from the next update parsed.
        self.coalesce_updates = bool(coalesce_updates)

        # Receive buffer: live bytes are self._buf[self._start:self._end];
        # the free tail self._buf[self._end:] is what get_buffer() lends out.
        self._buf = bytearray(_MIN_READ)
        self._start = 0
        self._end = 0
        self._eof = False
        # A FramebufferUpdate the decoder has seen in part is re-fed only once
        # more bytes have arrived.  (Compaction may move it: the decoder
        # keeps its framing progress relative to the message start.)
        self._fbu_pending = False
        self._fed_live = 0
        # Doubling stops at one whole update plus slack; past that the buffer
        # grows to exactly what is needed.  It never shrinks.
        self._soft_cap = limits.max_update_bytes + 2 * _MIN_READ

        self._outgoing = bytearray()

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> State:
        """The current :class:`State`."""
        return self._state

    @property
    def error(self) -> Error | None:
        """The exception that moved the protocol to ``ERROR``, if any."""
        return self._error

    @property
    def server_version(self) -> tuple[int, int] | None:
        """The version in the server's banner, e.g. ``(3, 889)``."""
        return self._server_version

    @property
    def version(self) -> tuple[int, int] | None:
        """The version we speak: ``(3, 3)``, ``(3, 7)`` or ``(3, 8)``; None before the banner."""
        return self._version

    @property
    def security_type(self) -> SecurityType | None:
        """The security type in use, once chosen."""
        return self._security_type

    @property
    def width(self) -> int | None:
        """Framebuffer width (follows DesktopSize); None before ServerInit."""
        return None if self._framebuffer is None else int(self._framebuffer.width)

    @property
    def height(self) -> int | None:
        """Framebuffer height (follows DesktopSize); None before ServerInit."""
        return None if self._framebuffer is None else int(self._framebuffer.height)

    @property
    def name(self) -> str | None:
        """The desktop name from ServerInit."""
        return self._name

    @property
    def framebuffer(self) -> Any:
        """The ``Framebuffer`` updates are decoded into; None before ServerInit."""
        return self._framebuffer

    @property
    def decoder(self) -> Any:
        """The ``UpdateDecoder``; None before ServerInit."""
        return self._decoder

    @property
    def encodings(self) -> tuple[int, ...]:
        """The encodings sent in SetEncodings."""
        return self._encodings

    @property
    def limits(self) -> Limits:
        """The limits in force."""
        return self._limits

    @property
    def update_outstanding(self) -> bool:
        """A FramebufferUpdateRequest was sent and no update has completed since."""
        return self._update_outstanding

    def _advance(self, trigger: str) -> None:
        try:
            new = _TRANSITIONS[self._state][trigger]
        except KeyError:
            raise InternalError(f"no transition from {self._state.name} on {trigger!r}") from None
        self._set_state(new)

    def _set_state(self, new: State) -> None:
        if new not in _ALLOWED[self._state]:
            raise InternalError(f"illegal transition {self._state.name} -> {new.name}")
        self._state = new
        if new is State.SERVER_INIT:
            self._send(b"\x01" if self._shared else b"\x00")  # ClientInit

    def _fail(self, exc: Error) -> Error:
        """Move to ERROR, remembering why; returns ``exc`` for ``raise``."""
        if self._error is None:
            self._error = exc
        self._state = State.ERROR
        return exc

    def _raise_if_failed(self) -> None:
        """Every call after a failure raises an exception of the same class."""
        exc = self._error
        if exc is None:
            return
        message = f"the RFB connection already failed: {exc}"
        again: Error
        if isinstance(exc, ConnectionClosed):
            again = ConnectionClosed(message, clean=exc.clean)
        else:
            try:
                again = type(exc)(message)
            except Exception:  # pragma: no cover - all our classes take a message
                again = ProtocolError(message)
        raise again from exc

    # ------------------------------------------------------------------ input

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes received from the server (copied).  ``b""`` means EOF.

        Nothing is parsed here: call :meth:`next_event`.

        :raises UsageError: data after EOF, or data that is not bytes-like.
        """
        self._raise_if_failed()
        try:
            view = memoryview(data)
        except TypeError:
            raise UsageError(f"receive_data() takes bytes, not {type(data).__name__}") from None
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        n = view.nbytes
        if n == 0:
            self._eof = True
            return
        if self._eof or self._state is State.CLOSED:
            raise UsageError("received data after EOF")
        self._reserve(n)
        self._buf[self._end : self._end + n] = view
        self._end += n

    def eof_received(self) -> None:
        """The server closed its side: same as ``receive_data(b"")``."""
        self.receive_data(b"")

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """A writable view of the receive buffer's free space, to ``recv_into``.

        Like :meth:`asyncio.BufferedProtocol.get_buffer`: write into the view,
        then call :meth:`buffer_updated` with the number of bytes written,
        before calling anything else.  The view is at least ``sizehint``
        bytes (at least 64 KiB; ``sizehint`` <= 0 means "any"); the buffer
        grows as needed, up to a whole update of ``limits.max_update_bytes``.

        :raises UsageError: after EOF.
        """
        self._raise_if_failed()
        if self._eof or self._state is State.CLOSED:
            raise UsageError("get_buffer() after EOF")
        want = max(int(sizehint), _MIN_READ)
        want = min(want, max(_MIN_READ, self._limits.max_update_bytes))
        self._reserve(want)
        return memoryview(self._buf)[self._end :]

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` were written at the start of the view from :meth:`get_buffer`.

        ``0`` is a no-op (report EOF with :meth:`eof_received`).

        :raises UsageError: ``nbytes`` is negative or larger than the view.
        """
        self._raise_if_failed()
        n = _uint("nbytes", nbytes, len(self._buf) - self._end)
        self._end += n

    def _reserve(self, n: int) -> None:
        """Make room for ``n`` more bytes after ``self._end``.

        Only ever called before new bytes are written, so the live data can
        move (a view lent out earlier is stale by then), even a partly
        received FramebufferUpdate: the decoder is fed the same message again
        at its new offset.  Compacting moves at most as many bytes as it
        frees, so it is amortised O(1) per byte; growing doubles (up to one
        whole update) and allocates a new bytearray rather than resizing, so
        that views still held by a caller never block it.
        """
        buf, start, end = self._buf, self._start, self._end
        live = end - start
        if live == 0:
            self._start = self._end = start = end = 0
        if len(buf) - end >= n:
            return
        if start >= live and len(buf) - live >= n:
            mv = memoryview(buf)
            mv[:live] = mv[start:end]
            self._start, self._end = 0, live
            return
        new = bytearray(max(live + n, min(2 * len(buf), self._soft_cap)))
        new[:live] = memoryview(buf)[start:end]
        self._buf = new
        self._start, self._end = 0, live

    def _consume(self, n: int) -> None:
        self._start += n

    def _u32(self, offset: int = 0) -> int:
        return int.from_bytes(self._buf[self._start + offset : self._start + offset + 4], "big")

    # ----------------------------------------------------------------- output

    def data_to_send(self) -> bytes:
        """Take the bytes queued for the server (possibly ``b""``)."""
        self._raise_if_failed()
        out = bytes(self._outgoing)
        self._outgoing.clear()
        return out

    def _send(self, data: bytes) -> None:
        self._outgoing += data

    # ----------------------------------------------------------------- events

    def next_event(self) -> events.Event | None:
        """Parse the next message.

        :return: the next event, or None if more data is needed (or after
            the :class:`~vncenv.vnc.events.ConnectionClosed` event).
        :raises ProtocolError: the server broke RFB (or a limit).
        :raises AuthenticationError: the server refused us, or we cannot
            authenticate with what it offers.
        :raises ConnectionClosed: EOF during the handshake or inside a message.
        """
        self._raise_if_failed()
        if self._state is State.CLOSED:
            return None
        try:
            while True:
                result = self._HANDLERS[self._state](self)
                if result is _AGAIN:
                    continue
                if result is _NEED_DATA:
                    return self._at_eof() if self._eof else None
                return result
        except Error as exc:
            raise self._fail(exc)
        except Exception as exc:
            raise self._fail(InternalError(f"unexpected {type(exc).__name__} in RFB protocol: {exc}")) from exc

    def events(self) -> Iterator[events.Event]:
        """Yield every event the buffered data makes (see :meth:`next_event`)."""
        while (event := self.next_event()) is not None:
            yield event

    @property
    def partial_message(self) -> str | None:
        """What the server has begun and not finished, or None between messages.

        During the handshake it is the handshake (the server owes us its next
        step); in ``NORMAL`` it is the message whose first bytes are buffered,
        e.g. ``"a FRAMEBUFFER_UPDATE message (1234 bytes of it received)"``.
        None in ``NORMAL`` with nothing buffered (a quiet server is not
        stalled) and in the terminal states.  Meaningful after the buffered
        events were taken (:meth:`events`): the session reads it to tell a
        stalled server from an idle one.
        """
        if self._state in _HANDSHAKE_STATES:
            return f"the RFB handshake (in state {self._state.name})"
        live = self._end - self._start
        if self._state is not State.NORMAL or live == 0:
            return None
        t = self._buf[self._start]
        try:
            what = f"a {ServerMsg(t).name} message"
        except ValueError:  # pragma: no cover - unknown types raise earlier
            what = f"a message of type {t}"
        return f"{what} ({live} bytes of it received)"

    def _at_eof(self) -> events.ConnectionClosed:
        """EOF with no complete message left: clean only between NORMAL messages."""
        partial = self.partial_message
        if partial is None and self._state is State.NORMAL:
            self._advance("eof")
            return _CLOSED_EVENT
        if self._state is State.NORMAL:
            raise ConnectionClosed(f"connection closed in the middle of {partial}", clean=False)
        raise ConnectionClosed(
            f"connection closed during the RFB handshake (in state {self._state.name})", clean=False
        )

    # ----------------------------------------------------- handshake handlers

    def _process__protocol_version(self) -> Any:
        live = self._end - self._start
        head = bytes(self._buf[self._start : self._start + min(live, _BANNER_LEN)])
        if not _banner_prefix_ok(head):
            raise ProtocolError(f"not an RFB server: it sent {head!r}")
        if live < _BANNER_LEN:
            return _NEED_DATA
        match = _BANNER_RE.fullmatch(head)
        if match is None:  # pragma: no cover - the prefix check covers it
            raise ProtocolError(f"not an RFB server: it sent {head!r}")
        major, minor = int(match.group(1)), int(match.group(2))
        if major < 3:
            raise ProtocolError(f"unsupported RFB version {major}.{minor}")
        self._server_version = (major, minor)
        # 3.8 for 3.8 and anything later (Apple's 3.889, RealVNC's 4.x/5.x);
        # 3.7 for 3.7; 3.3 for 3.0..3.6 (the spec: "interpret as 3.3").
        if major > 3 or minor >= 8:
            self._version = (3, 8)
        elif minor == 7:
            self._version = (3, 7)
        else:
            self._version = (3, 3)
        self._consume(_BANNER_LEN)
        self._send(b"RFB 003.%03d\n" % self._version[1])
        self._advance("3.3" if self._version == (3, 3) else "3.7+")
        return _AGAIN

    def _process__security_types(self) -> Any:
        live = self._end - self._start
        if live < 1:
            return _NEED_DATA
        n = self._buf[self._start]
        if n == 0:
            self._consume(1)
            self._failure_prefix = "the server refused the connection"
            self._advance("refused")
            return _AGAIN
        if live < 1 + n:
            return _NEED_DATA
        offered = bytes(self._buf[self._start + 1 : self._start + 1 + n])
        self._consume(1 + n)
        chosen = self._choose_security_type(offered)
        self._send(bytes([chosen]))
        self._security_type = chosen
        if chosen is SecurityType.VNC_AUTH:
            self._advance("vnc auth")
        else:
            self._advance("none, 3.8" if self._version == (3, 8) else "none, 3.7")
        return _AGAIN

    def _choose_security_type(self, offered: bytes) -> SecurityType:
        none, vnc = SecurityType.NONE in offered, SecurityType.VNC_AUTH in offered
        if self._password is not None and vnc:
            return SecurityType.VNC_AUTH
        if none:
            return SecurityType.NONE
        if vnc:
            raise AuthenticationError("the server requires a password (VNC authentication) but none was given")
        raise AuthenticationError(
            f"the server offers no security type vncenv supports: it offers {_security_type_list(offered)}; "
            "vncenv supports 1 (None) and 2 (VNC authentication)"
        )

    def _process__security_type_33(self) -> Any:
        if self._end - self._start < 4:
            return _NEED_DATA
        chosen = self._u32()
        self._consume(4)
        if chosen == SecurityType.INVALID:
            self._failure_prefix = "the server refused the connection"
            self._advance("refused")
        elif chosen == SecurityType.NONE:
            self._security_type = SecurityType.NONE
            self._advance("none")
        elif chosen == SecurityType.VNC_AUTH:
            if self._password is None:
                raise AuthenticationError(
                    "the server requires a password (VNC authentication) but none was given"
                )
            self._security_type = SecurityType.VNC_AUTH
            self._advance("vnc auth")
        else:
            label = f"{chosen} ({_SECURITY_TYPE_NAMES.get(chosen, 'unknown')})"
            raise AuthenticationError(
                f"the server chose security type {label}; vncenv supports 1 (None) and 2 (VNC authentication)"
            )
        return _AGAIN

    def _process__vnc_auth_challenge(self) -> Any:
        if self._end - self._start < CHALLENGE_SIZE:
            return _NEED_DATA
        challenge = bytes(self._buf[self._start : self._start + CHALLENGE_SIZE])
        self._consume(CHALLENGE_SIZE)
        assert self._password is not None
        self._send(vnc_auth_response(challenge, self._password))
        self._advance("challenge")
        return _AGAIN

    def _process__security_result(self) -> Any:
        if self._end - self._start < 4:
            return _NEED_DATA
        result = self._u32()
        self._consume(4)
        if result == 0:
            self._advance("ok")
            return _AGAIN
        what = "authentication failed"
        if self._security_type is SecurityType.VNC_AUTH:
            what += " (wrong password?)"
        if self._version == (3, 8):
            self._failure_prefix = what
            self._advance("failed, 3.8")
            return _AGAIN
        if result == 2:  # RFB 3.3's "too many"
            what = "authentication failed: too many attempts"
        raise AuthenticationError(what)

    def _process__security_failure_reason(self) -> Any:
        live = self._end - self._start
        if live < 4:
            return _NEED_DATA
        length = self._u32()
        if length > self._limits.max_reason_length:
            raise ProtocolError(
                f"failure reason of {length} bytes is over limits.max_reason_length "
                f"({self._limits.max_reason_length})"
            )
        if live < 4 + length:
            return _NEED_DATA
        reason = _decode_text(bytes(self._buf[self._start + 4 : self._start + 4 + length]))
        self._consume(4 + length)
        raise AuthenticationError(f"{self._failure_prefix}: {reason}")

    def _process__server_init(self) -> Any:
        live = self._end - self._start
        if live < 24:
            return _NEED_DATA
        s, limits = self._start, self._limits
        width, height = struct.unpack_from(">HH", self._buf, s)
        pixel_format = bytes(self._buf[s + 4 : s + 20])
        name_length = self._u32(20)
        if not (0 < width <= limits.max_width and 0 < height <= limits.max_height):
            raise ProtocolError(
                f"ServerInit size {width}x{height} is 0 or over the limits "
                f"({limits.max_width}x{limits.max_height})"
            )
        if name_length > limits.max_name_length:
            raise ProtocolError(
                f"ServerInit name of {name_length} bytes is over limits.max_name_length ({limits.max_name_length})"
            )
        if live < 24 + name_length:
            return _NEED_DATA
        self._name = _decode_text(bytes(self._buf[s + 24 : s + 24 + name_length]))
        self._consume(24 + name_length)

        self._framebuffer = self._framebuffer_factory(width, height)
        self._decoder = self._decoder_factory(self._framebuffer, self._encodings, self._limits)
        self._queue_set_pixel_format()
        self._queue_set_encodings()
        self._queue_update_request(False, 0, 0, width, height)
        self._advance("server init")
        return events.ServerInit(width=width, height=height, name=self._name, pixel_format=pixel_format)

    # --------------------------------------------------------- NORMAL: dispatch

    def _process__normal(self) -> Any:
        live = self._end - self._start
        if live == 0:
            return _NEED_DATA
        s, buf = self._start, self._buf
        kind = buf[s]

        if kind == ServerMsg.FRAMEBUFFER_UPDATE:
            return self._framebuffer_update()

        if kind == ServerMsg.BELL:
            self._consume(1)
            return _BELL_EVENT

        if kind == ServerMsg.SERVER_CUT_TEXT:  # u8 type, 3 pad, u32 length, text
            if live < 8:
                return _NEED_DATA
            length = self._u32(4)
            if length > self._limits.max_cut_text:
                raise ProtocolError(
                    f"ServerCutText of {length} bytes is over limits.max_cut_text ({self._limits.max_cut_text})"
                )
            if live < 8 + length:
                return _NEED_DATA
            data = bytes(buf[s + 8 : s + 8 + length])
            self._consume(8 + length)
            return events.ServerCutText(data=data, text=data.decode("latin-1"))

        if kind == ServerMsg.SET_COLOUR_MAP_ENTRIES:  # u8 type, pad, u16 first, u16 n, n * 3 * u16
            if live < 6:
                return _NEED_DATA
            first, n = struct.unpack_from(">HH", buf, s + 2)
            if live < 6 + 6 * n:
                return _NEED_DATA
            values = struct.unpack_from(f">{3 * n}H", buf, s + 6)
            self._consume(6 + 6 * n)
            colours = tuple(zip(values[0::3], values[1::3], values[2::3]))
            return events.ColourMapEntries(first=first, colours=colours)

        if kind == ServerMsg.END_OF_CONTINUOUS_UPDATES:
            self._consume(1)
            return _END_OF_CU_EVENT

        if kind == ServerMsg.FENCE:  # u8 type, 3 pad, u32 flags, u8 length, payload
            if live < 9:
                return _NEED_DATA
            flags = self._u32(4)
            length = buf[s + 8]
            if length > _FENCE_MAX_PAYLOAD:
                raise ProtocolError(f"Fence payload of {length} bytes is over {_FENCE_MAX_PAYLOAD}")
            if live < 9 + length:
                return _NEED_DATA
            payload = bytes(buf[s + 9 : s + 9 + length])
            self._consume(9 + length)
            if flags & _FENCE_REQUEST:
                self._send(
                    struct.pack(">B3xIB", ClientMsg.FENCE, flags & _FENCE_SUPPORTED_FLAGS, length) + payload
                )
            return events.Fence(flags=flags, payload=payload)

        raise ProtocolError(f"unknown server message type {kind}")

    def _framebuffer_update(self) -> Any:
        if self._fbu_pending and self._end - self._start == self._fed_live:
            return _NEED_DATA  # nothing new since the decoder last looked
        view = memoryview(self._buf)[: self._end]
        try:
            if self.coalesce_updates:
                n = self._decoder.feed(view, self._start, _COALESCE_MAX)
            else:
                n = self._decoder.feed(view, self._start)
        finally:
            del view
        if n == 0:
            self._fbu_pending = True
            self._fed_live = self._end - self._start
            return _NEED_DATA
        if not 0 < n <= self._end - self._start:
            raise InternalError(f"decoder consumed {n} bytes of {self._end - self._start}")
        self._fbu_pending = False
        self._consume(n)
        self._update_outstanding = False
        d = self._decoder
        return events.FramebufferUpdate(
            updates=int(d.last_updates) if self.coalesce_updates else 1,
            rects=int(d.last_rects),
            nbytes=n,
            pixels=int(d.last_pixels),
            resized=bool(d.resized),
            cursor_changed=bool(d.cursor_changed),
        )

    _HANDLERS: dict[State, Callable[[RFBClientProtocol], Any]] = {
        State.PROTOCOL_VERSION: _process__protocol_version,
        State.SECURITY_TYPES: _process__security_types,
        State.SECURITY_TYPE_33: _process__security_type_33,
        State.VNC_AUTH_CHALLENGE: _process__vnc_auth_challenge,
        State.SECURITY_RESULT: _process__security_result,
        State.SECURITY_FAILURE_REASON: _process__security_failure_reason,
        State.SERVER_INIT: _process__server_init,
        State.NORMAL: _process__normal,
    }

    # -------------------------------------------------------- client messages

    def _require_normal(self, what: str) -> None:
        if self._state is not State.NORMAL:
            raise UsageError(f"{what}() needs the NORMAL state; the protocol is in {self._state.name}")

    def _queue_set_pixel_format(self) -> None:
        self._send(struct.pack(">B3x", ClientMsg.SET_PIXEL_FORMAT) + CANONICAL_PIXEL_FORMAT)

    def _queue_set_encodings(self) -> None:
        n = len(self._encodings)
        self._send(struct.pack(f">BxH{n}i", ClientMsg.SET_ENCODINGS, n, *self._encodings))

    def _queue_update_request(self, incremental: bool, x: int, y: int, width: int, height: int) -> None:
        self._send(encode_update_request(incremental, x, y, width, height))
        self._update_outstanding = True

    def request_update(
        self,
        incremental: bool = True,
        x: int = 0,
        y: int = 0,
        width: int | None = None,
        height: int | None = None,
    ) -> None:
        """Queue a FramebufferUpdateRequest; the default is the whole screen.

        Sets :attr:`update_outstanding` (it is legal to ask again while one is
        outstanding; the server merges requests).

        :param incremental: only changes since the last update.
        :param x: left edge.
        :param y: top edge.
        :param width: defaults to the framebuffer's width minus ``x``.
        :param height: defaults to the framebuffer's height minus ``y``.
        :raises UsageError: not in NORMAL, or a value outside 0..65535.
        """
        self._require_normal("request_update")
        x = _uint("x", x, _U16_MAX)
        y = _uint("y", y, _U16_MAX)
        if width is None:
            width = self._framebuffer.width - x
        if height is None:
            height = self._framebuffer.height - y
        self._queue_update_request(incremental, x, y, width, height)

    def key_event(self, keysym: int, down: bool) -> None:
        """Queue a KeyEvent.

        :param keysym: an X11 keysym (see :mod:`vncenv.vnc.keysyms`), 0..2**32-1.
        :param down: pressed (True) or released (False).
        :raises UsageError: not in NORMAL, or a keysym out of range.
        """
        self._require_normal("key_event")
        self._send(encode_key_event(keysym, down))

    def pointer_event(self, x: int, y: int, buttons: int) -> None:
        """Queue a PointerEvent.

        :param x: 0..65535 (servers clip to the screen).
        :param y: 0..65535.
        :param buttons: button mask 0..255; bit 0 is the left button, 1
            middle, 2 right, 3/4 wheel up/down.
        :raises UsageError: not in NORMAL, or a value out of range.
        """
        self._require_normal("pointer_event")
        self._send(encode_pointer_event(x, y, buttons))

    def client_cut_text(self, text: str) -> None:
        """Queue a ClientCutText (RFB text is Latin-1).

        :raises UsageError: not in NORMAL, or ``text`` not Latin-1 encodable.
        """
        self._require_normal("client_cut_text")
        self._send(encode_client_cut_text(text))

    def __repr__(self) -> str:
        size = "" if self._framebuffer is None else f" {self.width}x{self.height}"
        return f"<RFBClientProtocol {self._state.name}{size}>"
