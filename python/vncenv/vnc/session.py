"""VNCSession: one RFB connection, a socket and one reader thread.

The thin I/O shell around :class:`vncenv.vnc.protocol.RFBClientProtocol`.
The reader thread ``recv_into``s the protocol's own buffer (no copy), lets the
protocol decode whole updates (the GIL is released while the core works) and
keeps one incremental update request outstanding (none while paused, see
``idle_pause`` below).  Other threads read consistent snapshots and send
input events.

Locks: ``_lock`` guards the protocol's receive side and the framebuffer, so a
snapshot never sees half an update; ``_send_lock`` serialises writes to the
socket, so input events never wait for a decode.

Two kinds of recording: ``record=`` keeps the server's bytes verbatim from
the banner on (the whole connection); :meth:`VNCSession.record_to` starts a
self-contained file at any update boundary, one per episode (see
:class:`vncenv.vnc.fbs.FBSFrameRecorder`), written by the reader thread under
``_lock`` right after each update decodes.

Two clocks guard against a server and a caller that go quiet:

* ``stall_timeout`` (30 s): a server that has begun a message (or owes the
  next step of the handshake) and then sends no byte for that long is
  stalled: the session fails with :class:`~vncenv.error.Timeout`, shuts the
  socket down and wakes every waiter with that error.  A server with no
  message in progress is idle, not stalled, however long it stays quiet.
  A send (an input event, an update request) that makes no progress for
  that long fails the same way.
* ``idle_pause`` (5 s): when nobody has read the session (a snapshot call
  or :meth:`~VNCSession.wait_for_update`) for that long, nobody waits on
  it, and nothing records it, the reader stops asking for updates after the
  next one arrives, so the server stops sending and nothing piles up.  The
  next read resumes with a *non-incremental* full-screen request (a fresh
  picture whatever the server remembers, and a waiter gets an update even
  if nothing changed); the snapshot calls wait for a screen's worth of
  pixels to arrive (at most ``resume_timeout``) so they never return a
  picture older than the pause.  The pause and the clock live here; the
  protocol only builds the requests.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..error import ConnectionClosed, Error, Timeout, UsageError
from ..limits import DEFAULT_LIMITS, Limits
from . import events as ev
from .keysyms import keysym as _keysym
from .protocol import (
    RFBClientProtocol,
    State,
    build_encodings,
    encode_client_cut_text,
    encode_key_event,
    encode_pointer_event,
)

__all__ = ["VNCSession", "SessionStats"]

# A socket operation that ran out of stall_timeout: SO_RCVTIMEO/SO_SNDTIMEO
# expire as EAGAIN on a blocking socket.
_EXPIRED = (TimeoutError, BlockingIOError)

_RECV_SIZE = 1 << 18


@dataclass
class SessionStats:
    """Counters of one session (read with :meth:`VNCSession.stats`)."""

    updates: int = 0
    rects: int = 0
    bytes: int = 0
    pixels: int = 0
    bells: int = 0
    last_update_time: float | None = None  # time.time() of the last complete update
    connected_time: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    pauses: int = 0  # times the reader stopped asking for updates (idle_pause)
    paused: bool = False  # it is not asking now


def _seconds(name: str, value: float | None, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        what = "a positive number of seconds" + (" or None" if allow_none else "")
        raise UsageError(f"{name} must be {what}, not {value!r}")
    return float(value)


class VNCSession:
    """A connection to a VNC server.

    Build one with :meth:`connect`, which returns once the handshake is done.

    :param host: server address.
    :param port: TCP port (5900 + display).
    :param password: VNC password, or None for servers without auth.
    :param encoding: ``"tight"``, ``"zrle"`` or ``"raw"``.
    :param quality_level: JPEG quality level 0-9 (Tight); None for lossless.
    :param compress_level: zlib compression level 0-9.
    :param fine_quality_level: TurboVNC/TigerVNC fine quality 0-100.
    :param subsample_level: chroma subsampling 0 (4:4:4) .. 3 (grey).
    :param cursor: ask for the Cursor pseudo-encoding (the cursor image is
        then sent separately and not drawn into the framebuffer).
    :param limits: caps on what the server may make us allocate.
    :param record: a path or :class:`vncenv.vnc.fbs.FBSWriter` to record the
        server's byte stream to.
    :param keep_last_frame: keep a copy of the framebuffer at every complete
        update, so that :meth:`last_frame` holds the last complete picture
        even when a later update fails half-way (costs one copy per update).
    :param stall_timeout: seconds a server may go silent in the middle of a
        message (or of the handshake) before the session fails with
        :class:`~vncenv.error.Timeout`; also the longest a send may make no
        progress.  None waits forever.  An idle server (no message begun) is
        never timed out.
    :param idle_pause: seconds without a read (:meth:`snapshot`,
        :meth:`snapshot_into`, :meth:`snapshot_with_count`, :meth:`last_frame`,
        :meth:`wait_for_update`, :meth:`wait_closed`) after which the session
        stops requesting updates, unless a thread is still waiting in
        :meth:`wait_for_update` / :meth:`wait_closed` or a recording
        (``record``, :meth:`record_to`) is on.  The next read resumes with a
        full-screen (non-incremental) request.  None never pauses.
    :param resume_timeout: how long a snapshot call on a paused session waits
        for the fresh full update it asked for (it returns the old picture
        if none came by then).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        password: str | None = None,
        encoding: str = "tight",
        quality_level: int | None = None,
        compress_level: int | None = None,
        fine_quality_level: int | None = None,
        subsample_level: int | None = None,
        cursor: bool = False,
        limits: Limits = DEFAULT_LIMITS,
        record: Any = None,
        keep_last_frame: bool = False,
        name: str | None = None,
        stall_timeout: float | None = 30.0,
        idle_pause: float | None = 5.0,
        resume_timeout: float = 2.0,
    ) -> None:
        self._stall_timeout = _seconds("stall_timeout", stall_timeout)
        self._idle_pause = _seconds("idle_pause", idle_pause)
        self._resume_timeout = _seconds("resume_timeout", resume_timeout, allow_none=False)
        self.host = host
        self.port = int(port)
        self.name = name or f"{host}:{port}"
        self.encodings: Sequence[int] = build_encodings(
            encoding,
            quality_level=quality_level,
            compress_level=compress_level,
            fine_quality_level=fine_quality_level,
            subsample_level=subsample_level,
            cursor=cursor,
        )
        self._protocol = RFBClientProtocol(password=password, encodings=self.encodings, limits=limits)
        self._record_arg = record
        self._recorder: Any = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._waiters = 0  # threads in _wait(): updates wake only when someone waits
        self._stats = SessionStats()
        self._ready = False
        self._closing = False
        self._closed = False
        self._keep_last_frame = keep_last_frame
        self._last_frame: np.ndarray | None = None
        self._frame_recorder: Any = None  # an FBSFrameRecorder, see record_to()
        self._last_read = time.monotonic()  # the last read call (idle_pause)
        self._paused = False  # no update request outstanding on purpose
        self.error: Error | None = None
        self.cut_text: str | None = None
        #: why the last :meth:`record_to` recording stopped on its own (a write error), or None.
        self.record_error: Exception | None = None

    # -- lifecycle ----------------------------------------------------------

    @classmethod
    def connect(cls, host: str, port: int, *, timeout: float = 10.0, **options: Any) -> VNCSession:
        """Connect, run the handshake and return the ready session.

        :raises vncenv.error.Timeout: the handshake did not finish in ``timeout`` s.
        :raises vncenv.error.AuthenticationError: the server refused the password.
        """
        session = cls(host, port, **options)
        session.start(timeout=timeout)
        return session

    def start(self, timeout: float = 10.0) -> None:
        """Open the socket, start the reader thread, wait for ServerInit."""
        if self._thread is not None:
            raise UsageError("session already started")
        deadline = time.monotonic() + timeout
        try:
            # an ASCII name goes as bytes: a str is IDNA-encoded, which costs
            # importing the idna codec (and unicodedata) on the first connection
            host = self.host.encode("ascii") if self.host.isascii() else self.host
            sock = socket.create_connection((host, self.port), timeout=timeout)
        except socket.timeout as exc:
            raise Timeout(f"connecting to {self.name} timed out after {timeout} s") from exc
        except OSError as exc:
            raise ConnectionClosed(f"cannot connect to {self.name}: {exc}") from exc
        # With a stall timeout every recv and send is bounded by it; the reader
        # tells a stall (a message begun) from an idle server when it expires.
        # The kernel keeps the time (SO_RCVTIMEO/SO_SNDTIMEO on a blocking
        # socket, expiring as EAGAIN): a Python socket timeout would poll()
        # before every recv and send, a system call more per read.
        sock.settimeout(None)
        if self._stall_timeout is not None:
            seconds = int(self._stall_timeout)
            timeval = struct.pack("ll", seconds, int((self._stall_timeout - seconds) * 1e6))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        if self._record_arg is not None:
            from .fbs import FBSWriter

            self._recorder = (
                self._record_arg if isinstance(self._record_arg, FBSWriter) else FBSWriter(self._record_arg)
            )
        self._stats.connected_time = time.time()
        self._last_read = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"vncenv-reader-{self.name}", daemon=True)
        self._thread.start()
        with self._lock:
            while not self._ready and self.error is None and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._wait(remaining)
            error, ready = self.error, self._ready
        if not ready:
            self.close()
            if error is not None:
                raise error
            raise Timeout(f"handshake with {self.name} did not finish within {timeout} s")

    def close(self) -> None:
        """Close the connection and stop the reader thread (idempotent)."""
        with self._lock:
            self._closing = True
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        if sock is not None:
            sock.close()
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None
        with self._lock:
            self._closed = True
            self._changed.notify_all()
            frame_recorder, self._frame_recorder = self._frame_recorder, None
        if frame_recorder is not None:
            frame_recorder.close()

    def __enter__(self) -> VNCSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True once the connection has ended, cleanly or not."""
        return self._closed

    # -- reader thread --------------------------------------------------------

    def _run(self) -> None:
        protocol = self._protocol
        sock = self._sock
        assert sock is not None
        try:
            while True:
                try:
                    with protocol.get_buffer(_RECV_SIZE) as buf:
                        n = sock.recv_into(buf)
                        if self._recorder is not None and n:
                            self._recorder.write(buf[:n])
                except _EXPIRED:  # no byte for stall_timeout s
                    if self._closing:
                        raise
                    partial = protocol.partial_message  # the receive side is this thread's
                    if partial is None:
                        continue  # idle, not stalled
                    raise Timeout(
                        f"{self.name} stalled: no byte for {self._stall_timeout} s (stall_timeout) "
                        f"in the middle of {partial}; connection dropped"
                    ) from None
                with self._lock:
                    self._stats.bytes += n
                    if n:
                        protocol.buffer_updated(n)
                    else:
                        protocol.receive_data(b"")
                    finished = self._handle_events(protocol)
                    outgoing = protocol.data_to_send()
                if outgoing:
                    with self._send_lock:
                        self._send_all(sock, outgoing)
                if finished:
                    return
        except Error as exc:
            self._fail(exc)
        except OSError as exc:
            if self._closing:
                self._fail(None)
            elif isinstance(exc, _EXPIRED):
                self._fail(
                    Timeout(f"sending to {self.name} made no progress for {self._stall_timeout} s (stall_timeout)")
                )
            else:
                self._fail(ConnectionClosed(f"connection to {self.name} failed: {exc}"))
        except BaseException as exc:  # pragma: no cover - a bug: report it to waiters
            from ..error import InternalError

            self._fail(InternalError(f"reader thread of {self.name} crashed: {exc!r}"))
            raise

    def _handle_events(self, protocol: RFBClientProtocol) -> bool:
        """Apply the protocol's events (under ``_lock``); True when the connection ended.

        A backlog of whole updates is decoded in one call and answered with
        one update request (the server merges requests anyway), unless
        :meth:`record_to` records every update.
        """
        notify = updated = False
        protocol.coalesce_updates = self._frame_recorder is None
        try:
            for event in protocol.events():
                if isinstance(event, ev.FramebufferUpdate):
                    stats = self._stats
                    stats.updates += event.updates
                    stats.rects += event.rects
                    stats.pixels += event.pixels
                    updated = True
                    if self._frame_recorder is not None:
                        self._record_frame(event)
                elif isinstance(event, ev.ServerInit):
                    self._ready = True
                    notify = True
                elif isinstance(event, ev.Bell):
                    self._stats.bells += 1
                    if self._frame_recorder is not None:
                        self._record_call(self._frame_recorder.bell)
                elif isinstance(event, ev.ServerCutText):
                    self.cut_text = event.text
                    if self._frame_recorder is not None:
                        self._record_call(self._frame_recorder.cut_text, event.data)
                elif isinstance(event, ev.ConnectionClosed):
                    if updated:
                        self._updates_applied()
                    self._closed = True
                    if not self._ready:
                        self.error = ConnectionClosed(f"{self.name} closed the connection during the handshake")
                    self._changed.notify_all()
                    return True
        except Error:  # the updates before a bad one still count (and keep_last_frame keeps them)
            if updated:
                self._updates_applied()
            raise
        if updated:
            self._updates_applied()
            if self._closing:
                pass
            elif self._idle():
                self._paused = True
                self._stats.pauses += 1
            else:
                protocol.request_update(incremental=True)
            notify = True
        if notify and self._waiters:
            self._changed.notify_all()
        return False

    def _updates_applied(self) -> None:
        """Bookkeeping after a batch of updates (``_lock`` held)."""
        self._stats.last_update_time = time.time()
        if self._keep_last_frame:
            self._copy_last_frame()

    def _idle(self) -> bool:
        """Nobody reads, waits or records (``_lock`` held): time to stop asking (idle_pause)."""
        return (
            self._idle_pause is not None
            and self._waiters == 0
            and self._recorder is None
            and self._frame_recorder is None
            and time.monotonic() - self._last_read > self._idle_pause
        )

    def _reading(self, wait: bool = False) -> None:
        """A read call: note the time and, on a paused session, ask for a full update.

        With ``wait``, block (at most ``resume_timeout``) until a screen's
        worth of pixels has arrived since (servers may answer in several
        updates: TigerVNC first sends one with only the screen layout), so a
        snapshot is never older than the pause.
        """
        sock = self._sock
        with self._lock:
            self._last_read = time.monotonic()
            if not self._paused:
                return
            self._paused = False
            if self._closed or self._closing or sock is None or self._protocol.state is not State.NORMAL:
                return
            self._protocol.request_update(incremental=False)
            data = self._protocol.data_to_send()
            pixels = self._stats.pixels
        with self._send_lock:
            try:
                sock.sendall(data)
            except OSError:
                return  # the reader thread sees the connection fail and reports it
        if not wait:
            return
        deadline = time.monotonic() + self._resume_timeout
        with self._lock:
            fb = self._protocol.framebuffer
            while self._stats.pixels - pixels < fb.width * fb.height and not self._closed:  # (size may change)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._wait(remaining)

    @property
    def paused(self) -> bool:
        """True while the session is not asking for updates (see ``idle_pause``)."""
        return self._paused

    def _record_frame(self, event: ev.FramebufferUpdate) -> None:
        """Append the update just decoded to the :meth:`record_to` file (``_lock`` held)."""
        cursor = self._protocol.decoder.cursor if event.cursor_changed else None
        self._record_call(self._frame_recorder.update, self._protocol.framebuffer.array, cursor)

    def _record_call(self, method: Any, *args: Any) -> None:
        """Call a recorder method; a failure (disk full ...) stops the recording, not the session."""
        try:
            method(*args)
        except Exception as exc:
            self.record_error = exc
            recorder, self._frame_recorder = self._frame_recorder, None
            try:
                recorder.close()
            except Exception:
                pass

    def _copy_last_frame(self) -> None:
        array = self._protocol.framebuffer.array
        if self._last_frame is None or self._last_frame.shape != array.shape:
            self._last_frame = array.copy()
        else:
            np.copyto(self._last_frame, array)

    def _fail(self, error: Error | None) -> None:
        with self._lock:
            if error is not None and not self._closing and self.error is None:
                self.error = error
            self._closed = True
            self._changed.notify_all()
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- reading --------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True once the handshake has finished (it stays True after close)."""
        return self._ready

    @property
    def width(self) -> int:
        return self._protocol.framebuffer.width

    @property
    def height(self) -> int:
        return self._protocol.framebuffer.height

    @property
    def desktop_name(self) -> str:
        return self._protocol.name

    @property
    def update_count(self) -> int:
        """Number of complete updates received so far."""
        return self._stats.updates

    def wait_for_update(self, timeout: float | None = None, after: int | None = None) -> int:
        """Block until an update newer than ``after`` (default: now) is complete.

        :return: the new update count.
        :raises vncenv.error.Timeout: none arrived within ``timeout`` seconds.
        :raises vncenv.error.Error: the connection ended (the error that ended it).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self._reading()
        with self._lock:
            seen = self._stats.updates if after is None else after
            while self._stats.updates <= seen:
                self._raise_if_closed()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise Timeout(f"no update from {self.name} within {timeout} s")
                self._wait(remaining)
            return self._stats.updates

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Block until the connection ends (or ``timeout`` s pass); True if it ended.

        It does not raise: read :attr:`error` for why it ended.  Waiting here
        counts as reading (see ``idle_pause``).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self._reading()
        with self._lock:
            while not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._wait(remaining)
            return True

    def _wait(self, timeout: float | None) -> None:
        """Wait on ``_changed`` (``_lock`` held), counted so the reader skips needless wake-ups."""
        self._waiters += 1
        try:
            self._changed.wait(timeout)
        finally:
            self._waiters -= 1

    def _raise_if_closed(self) -> None:
        if self.error is not None:
            raise self.error
        if self._closed:
            raise ConnectionClosed(f"connection to {self.name} is closed", clean=True)

    def snapshot(self) -> np.ndarray:
        """An owned copy of the framebuffer after the last complete update: (H, W, 3) RGB."""
        self._reading(wait=True)
        with self._lock:
            return self._protocol.framebuffer.array.copy()

    def last_frame(self) -> np.ndarray | None:
        """With ``keep_last_frame``: a copy of the last complete update's picture."""
        self._reading(wait=True)
        with self._lock:
            return None if self._last_frame is None else self._last_frame.copy()

    def snapshot_into(
        self,
        out: np.ndarray,
        *,
        bottom: np.ndarray | None = None,
        accept: Callable[[np.ndarray], bool] | None = None,
    ) -> tuple[int, bool]:
        """Copy the last complete frame's top-left ``out.shape`` pixels into ``out``.

        One copy, for callers that assemble observations in place.  With
        ``bottom``, the frame's last ``bottom.shape[0]`` rows go there too;
        with ``accept``, ``bottom`` is filled first and ``out`` only if
        ``accept(bottom)`` holds (both from the same frame).  Returns the
        number of updates the frame includes and whether ``out`` was filled.

        :raises vncenv.error.UsageError: ``out`` or ``bottom`` does not fit the frame.
        """
        self._reading(wait=True)
        with self._lock:
            fb = self._protocol.framebuffer.array
            height, width = fb.shape[:2]
            if out.shape[0] > height or out.shape[1] > width or out.shape[2:] != fb.shape[2:]:
                raise UsageError(f"{out.shape} does not fit in the {width}x{height} frame")
            if bottom is not None:
                if bottom.shape[0] > height or bottom.shape[1:] != fb.shape[1:]:
                    raise UsageError(f"{bottom.shape} rows do not fit the {width}x{height} frame")
                np.copyto(bottom, fb[height - bottom.shape[0] :])
                if accept is not None and not accept(bottom):
                    return self._stats.updates, False
            np.copyto(out, fb[: out.shape[0], : out.shape[1]])
            return self._stats.updates, True

    def snapshot_with_count(self) -> tuple[np.ndarray, int]:
        """Like :meth:`snapshot`, plus the number of updates it includes."""
        self._reading(wait=True)
        with self._lock:
            return self._protocol.framebuffer.array.copy(), self._stats.updates

    @property
    def cursor(self) -> tuple[np.ndarray, int, int] | None:
        """The cursor image (RGBA) and hotspot, when the Cursor pseudo-encoding is on."""
        with self._lock:
            return self._protocol.decoder.cursor

    def stats(self) -> SessionStats:
        """A copy of the session's counters."""
        with self._lock:
            s = self._stats
            return SessionStats(
                updates=s.updates,
                rects=s.rects,
                bytes=s.bytes,
                pixels=s.pixels,
                bells=s.bells,
                last_update_time=s.last_update_time,
                connected_time=s.connected_time,
                extra=dict(s.extra),
                pauses=s.pauses,
                paused=self._paused,
            )

    # -- recording ----------------------------------------------------------------

    def record_to(
        self,
        path: str | os.PathLike[str] | None,
        *,
        compress_level: int = 1,
        fsync: bool = False,
    ) -> int | None:
        """Start recording a self-contained FBS file at the current update, or stop.

        The file (see :class:`vncenv.vnc.fbs.FBSFrameRecorder`) opens with a
        handshake and the current picture, and gets one FramebufferUpdate per
        update this session decodes from now on; decoded on its own it gives
        exactly this session's framebuffer after each of them.  A recording
        already running is closed first, so consecutive calls cut a session
        into consecutive files with no update lost or repeated.  The switch
        happens under the session's lock, between two updates.

        A write error stops the recording (the session goes on) and is kept
        in :attr:`record_error`.

        :param path: where to write (created or truncated), or None to stop.
        :param compress_level: zlib level of the file's ZRLE data.
        :param fsync: fsync each block (survives a machine crash, not just a killed process).
        :return: the session's update count (:attr:`update_count`) at the
            switch: the file's first picture includes that many updates, and
            so does the last picture of the file it stops.  Stopping with
            nothing recording returns None.
        :raises vncenv.error.UsageError: the handshake has not finished.
        :raises OSError: the file cannot be created.
        """
        from .fbs import FBSFrameRecorder

        if path is not None and not self._ready:
            raise UsageError("record_to() needs a connected session (the handshake has not finished)")
        with self._lock:
            old, self._frame_recorder = self._frame_recorder, None
            count: int | None = self._stats.updates
            if old is not None:
                old.close()
            elif path is None:
                count = None
            if path is not None:
                self.record_error = None
                decoder = self._protocol.decoder
                self._frame_recorder = FBSFrameRecorder(
                    path,
                    self._protocol.framebuffer.array,
                    name=self._protocol.name or "",
                    cursor=decoder.cursor if decoder is not None else None,
                    compress_level=compress_level,
                    fsync=fsync,
                )
        if path is not None:
            self._reading()  # a recording reads every update: resume if paused
        return count

    @property
    def recording(self) -> str | None:
        """The path :meth:`record_to` is writing, or None."""
        recorder = self._frame_recorder
        return None if recorder is None else recorder.path

    # -- input ------------------------------------------------------------------

    def _send_all(self, sock: socket.socket, data: bytes) -> None:
        """``sendall``, failing once one send makes no progress for stall_timeout.

        (SO_SNDTIMEO makes a send that had written part of its data return the
        part when the time is up: that is a stall too, not progress.)"""
        view = memoryview(data)
        while view.nbytes:
            started = time.monotonic()
            sent = sock.send(view)  # BlockingIOError: no byte went out in time
            view = view[sent:]
            if view.nbytes and self._stall_timeout is not None and time.monotonic() - started >= self._stall_timeout:
                raise TimeoutError(f"no progress for {self._stall_timeout} s")

    def _send(self, data: bytes) -> None:
        if not self._ready:
            raise UsageError("the session is not connected yet")
        self._raise_if_closed()
        with self._send_lock:
            try:
                assert self._sock is not None
                self._send_all(self._sock, data)
            except _EXPIRED as exc:
                # part of the message may have gone out: the stream is broken, drop it
                error = Timeout(f"sending to {self.name} made no progress for {self._stall_timeout} s (stall_timeout)")
                self._fail(error)
                raise error from exc
            except OSError as exc:
                # the connection is gone: the session fails (as the reader would see it)
                error = ConnectionClosed(f"sending to {self.name} failed: {exc}")
                self._fail(error)
                raise error from exc

    def key_event(self, key: int | str, down: bool) -> None:
        """Press (``down=True``) or release a key, by keysym or name (``"Return"``, ``"a"``)."""
        self._send(encode_key_event(_keysym(key) if isinstance(key, str) else int(key), down))

    def pointer_event(self, x: int, y: int, buttons: int = 0) -> None:
        """Move the pointer to (x, y) with the button mask ``buttons`` (bit 0 = left)."""
        self._send(encode_pointer_event(x, y, buttons))

    def client_cut_text(self, text: str) -> None:
        """Set the server's clipboard (latin-1 text)."""
        self._send(encode_client_cut_text(text))

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("ready" if self._ready else "connecting")
        return f"<VNCSession {self.name} {state} updates={self._stats.updates}>"
