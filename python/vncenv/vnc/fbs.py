"""FBS ("framebuffer stream") recordings: writer, reader and replay server.

Format (rfbproxy's, read by TightVNC's player and vncproxy)::

    file   := "FBS 001.000\\n" block*
    block  := u32 BE length, <length> bytes of the server-to-client stream,
              zero padding to a multiple of 4, u32 BE milliseconds since start

A recording holds the server's side of one RFB connection from its
``RFB 003.008\\n`` banner on.  Block boundaries carry no meaning (they are
wherever a ``recv`` returned); the concatenated data is the stream.

What other writers do, and what the reader accepts:

* rfbproxy writes ``FBS 001.000`` (proxy recordings) and ``FBS 001.001``
  (shared-session recordings, in the server's native pixel format), and other
  tools use further minor versions: any ``FBS 001.NNN\\n`` is accepted and its
  minor version is in :attr:`FBSReader.version`.
* rfbproxy fills the padding with whatever follows its buffer, so padding is
  never checked.
* A block of length 0 is rfbproxy's end-of-stream mark: reading stops there
  (:attr:`FBSReader.end_marker`).  :class:`FBSWriter` never writes an empty
  block.
* rfbproxy rewrites the handshake of what it records: the security part is
  replaced by "no authentication" (RFB 3.3: u32 1; 3.7/3.8: the two bytes
  ``01 01``, and no SecurityResult even for 3.8), with timestamp 0.  A
  client replaying such a file must expect that; our own recordings keep the
  stream exactly as the server sent it.
* A recording cut short (a killed recorder) ends in a partial block; the
  reader yields the complete blocks and sets :attr:`FBSReader.truncated`.

Recordings that start in the middle of a session
------------------------------------------------

:class:`FBSWriter` under ``VNCSession(record=...)`` records the server's
bytes verbatim from the banner on.  That cannot work for a file that starts
mid-session (one per episode): ZRLE keeps one zlib stream for the whole
connection and Tight four, never reset by TigerVNC, so the server's later
bytes refer to a compression history a fresh decoder does not have (they do
not even start with a zlib header).  :class:`FBSFrameRecorder` therefore
writes a *synthesized* server stream that a fresh client decodes to exactly
the session's framebuffer after every update:

* a prologue: ``RFB 003.008``, security type None, SecurityResult OK, a
  ServerInit with the session's size, the canonical pixel format (the one
  every update is in: the client always asks for it, and
  :class:`vncenv.decode.StreamDecoder` decodes in it whatever a ServerInit
  says) and the desktop name, and a FramebufferUpdate with one rect of the
  whole current picture (plus the cursor shape, if the session has one),
  ZRLE on the file's own zlib stream (Raw would cost 4 bytes a pixel, 8 MB
  per episode at 1920x1080);
* then one FramebufferUpdate per update the session decodes: the regions that
  changed (a bounding box per 64-row band), ZRLE-encoded on the file's own
  zlib stream, a DesktopSize rect first when the size changed, and a Cursor
  rect when the cursor shape changed; an update that changed nothing is an
  update with no rects, so the file holds as many updates as the session got.
  Bell and ServerCutText are written as they come.

Each of those messages is one FBS block, so a cut-short file ends at an
update boundary: everything :class:`FBSReader` yields decodes.

Everything here is pure Python; importing this module starts nothing.
"""

from __future__ import annotations

import io
import os
import re
import select
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, Union

from ..error import ProtocolError, UsageError
from .constants import CANONICAL_PIXEL_FORMAT, Encoding, SecurityType, ServerMsg

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "MAGIC",
    "DEFAULT_MAX_BLOCK",
    "FBSWriter",
    "FBSReader",
    "FBSFrameRecorder",
    "FBSReplayServer",
    "read_fbs",
]

MAGIC = b"FBS 001.000\n"
_HEADER_RE = re.compile(rb"FBS 001\.(\d{3})\n")
_HEADER_PREFIX = b"FBS 001."
DEFAULT_MAX_BLOCK = 64 * 1024 * 1024  # 64 MiB: far above any recv() chunk
_U32 = struct.Struct(">I")

PathOrFile = Union[str, "os.PathLike[str]", BinaryIO]


def _is_path(obj: object) -> bool:
    return isinstance(obj, (str, bytes, os.PathLike))


class FBSWriter:
    """Write an FBS 001.000 recording.

    ``path_or_file`` is a path (created or truncated; closed by :meth:`close`)
    or a binary file object (flushed, not closed).  The clock starts when the
    writer is created (``time.monotonic``); :meth:`write` stamps each block
    with the milliseconds since then unless given ``timestamp_ms``.

    Each block goes out in one ``write`` call followed by a flush, so after a
    ``kill -9`` of the recording process every complete block is in the file
    and :class:`FBSReader` reads them all.  ``fsync=True`` also survives a
    machine crash, at the cost of an fsync per block.  Thread-safe.
    """

    def __init__(self, path_or_file: PathOrFile, *, fsync: bool = False) -> None:
        self._start = time.monotonic()
        self._lock = threading.Lock()
        self._fsync = fsync
        if _is_path(path_or_file):
            # Unbuffered: each write() is one write(2) on the file.
            self._file: BinaryIO = open(path_or_file, "wb", buffering=0)  # noqa: SIM115
            self._owns = True
        elif hasattr(path_or_file, "write"):
            self._file = path_or_file  # type: ignore[assignment]
            self._owns = False
        else:
            raise UsageError(f"FBSWriter needs a path or a binary file, not {type(path_or_file).__name__}")
        self.blocks = 0
        self.bytes = 0
        self.closed = False
        self._write_all(MAGIC)

    def elapsed_ms(self) -> int:
        """Milliseconds since the writer was created."""
        return int((time.monotonic() - self._start) * 1000)

    def write(self, data: bytes | bytearray | memoryview, timestamp_ms: int | None = None) -> None:
        """Append one block holding ``data`` (skipped if empty: an empty block
        would mean end-of-stream to rfbproxy-style readers)."""
        view = memoryview(data)
        if view.ndim != 1 or view.itemsize != 1:
            view = view.cast("B")
        n = view.nbytes
        if n == 0:
            return
        if n > 0xFFFFFFFF:
            raise UsageError(f"an FBS block holds at most 4 GiB - 1, not {n} bytes")
        ts = self.elapsed_ms() if timestamp_ms is None else int(timestamp_ms)
        if not 0 <= ts <= 0xFFFFFFFF:
            raise UsageError(f"timestamp_ms must be in 0..2**32-1, not {ts}")
        block = b"".join((_U32.pack(n), view, b"\0" * (-n % 4), _U32.pack(ts)))
        with self._lock:
            if self.closed:
                raise UsageError("write() on a closed FBSWriter")
            self._write_all(block)
            self.blocks += 1
            self.bytes += n

    def _write_all(self, block: bytes) -> None:
        f = self._file
        if self._owns:
            view = memoryview(block)
            while view:  # a raw FileIO may write less than asked
                written = f.write(view)
                view = view[written:]
        else:
            f.write(block)
        self._flush_locked()

    def _flush_locked(self) -> None:
        flush = getattr(self._file, "flush", None)
        if flush is not None:
            flush()
        if self._fsync:
            try:
                os.fsync(self._file.fileno())
            except (AttributeError, OSError, io.UnsupportedOperation):
                pass

    def flush(self) -> None:
        with self._lock:
            if not self.closed:
                self._flush_locked()

    def close(self) -> None:
        """Flush; close the file if the writer opened it.  Idempotent."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            try:
                self._flush_locked()
            finally:
                if self._owns:
                    self._file.close()

    def __enter__(self) -> "FBSWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FBSReader:
    """Read an FBS recording block by block.

    Iterating yields ``(timestamp_ms, data)`` pairs.  On a seekable file each
    iteration starts again from the first block; on a stream it continues.

    Raises :class:`vncenv.error.ProtocolError` for a header that is not
    ``FBS 001.NNN\\n`` and for a block length over ``max_block``.  A file that
    ends inside a block (or inside the header) is a cut-short recording:
    iteration ends after the last complete block, and :attr:`truncated` is
    True.  :attr:`end_marker` is True when an rfbproxy zero-length block
    ended the stream.
    """

    def __init__(self, path_or_file: PathOrFile, *, max_block: int = DEFAULT_MAX_BLOCK) -> None:
        if _is_path(path_or_file):
            self._file: BinaryIO = open(path_or_file, "rb")  # noqa: SIM115
            self._owns = True
            self.name = os.fspath(path_or_file)
        elif hasattr(path_or_file, "read"):
            self._file = path_or_file  # type: ignore[assignment]
            self._owns = False
            self.name = getattr(path_or_file, "name", repr(path_or_file))
        else:
            raise UsageError(f"FBSReader needs a path or a binary file, not {type(path_or_file).__name__}")
        self.max_block = max_block
        self.truncated = False
        self.end_marker = False
        self.version: str | None = None
        try:
            self._read_header()
        except BaseException:
            self.close()
            raise
        self._data_start = self._tell()

    def _tell(self) -> int | None:
        try:
            return self._file.tell()
        except (OSError, AttributeError, io.UnsupportedOperation):
            return None

    def _read_exact(self, n: int) -> bytes:
        """Up to ``n`` bytes: fewer only at the end of the file."""
        chunks = []
        left = n
        while left:
            chunk = self._file.read(left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _read_header(self) -> None:
        header = self._read_exact(len(MAGIC))
        m = _HEADER_RE.fullmatch(header)
        if m:
            self.version = "001." + m.group(1).decode()
            return
        if len(header) < len(MAGIC) and _could_be_header(header):
            self.truncated = True  # cut off inside the header: no blocks
            return
        raise ProtocolError(
            f"{self.name}: not an FBS recording: it starts with {header[:16]!r}, "
            f"expected {MAGIC!r} (or another 'FBS 001.NNN\\n')"
        )

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        if self.version is None:  # truncated inside the header
            return
        if self._data_start is not None:
            try:
                self._file.seek(self._data_start)
            except (OSError, io.UnsupportedOperation):
                pass
            else:
                self.truncated = False
                self.end_marker = False
        while True:
            offset = self._tell()
            head = self._read_exact(4)
            if not head:
                return
            if len(head) < 4:
                self.truncated = True
                return
            (n,) = _U32.unpack(head)
            if n == 0:
                self.end_marker = True
                return
            if n > self.max_block:
                where = f" at offset {offset}" if offset is not None else ""
                raise ProtocolError(
                    f"{self.name}: FBS block{where} claims {n} bytes, over the limit of "
                    f"{self.max_block} (a corrupt file, or raise max_block)"
                )
            padded = n + (-n % 4)
            body = self._read_exact(padded + 4)
            if len(body) < padded + 4:
                self.truncated = True
                return
            (ts,) = _U32.unpack_from(body, padded)
            yield ts, body[:n]

    def read_all(self) -> bytes:
        """The whole recorded stream: every complete block's data, concatenated."""
        return b"".join(data for _, data in self)

    def close(self) -> None:
        if self._owns:
            self._file.close()

    def __enter__(self) -> "FBSReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _could_be_header(prefix: bytes) -> bool:
    """True if ``prefix`` is the start of some ``FBS 001.NNN\\n``."""
    if len(prefix) <= len(_HEADER_PREFIX):
        return _HEADER_PREFIX.startswith(prefix)
    if not prefix.startswith(_HEADER_PREFIX):
        return False
    rest = prefix[len(_HEADER_PREFIX) :]
    return all(0x30 <= b <= 0x39 for b in rest[:3]) and (len(rest) < 4 or rest[3:4] == b"\n")


def read_fbs(path_or_file: PathOrFile, *, max_block: int = DEFAULT_MAX_BLOCK) -> list[tuple[int, bytes]]:
    """All complete blocks of a recording as a list of ``(timestamp_ms, data)``."""
    with FBSReader(path_or_file, max_block=max_block) as reader:
        return list(reader)


# --------------------------------------------------------------------------
# Self-contained recordings that start mid-session (see the module docstring)

_ZRLE_TILE = 64
_BAND = 64  # rows per band of the change search
_RECT_HEADER = struct.Struct(">HHHHi")


def _rect_header(x: int, y: int, w: int, h: int, encoding: int) -> bytes:
    return _RECT_HEADER.pack(x, y, w, h, encoding)


def _update_header(nrects: int) -> bytes:
    return struct.pack(">BxH", ServerMsg.FRAMEBUFFER_UPDATE, nrects)


def _server_init(width: int, height: int, name: str) -> bytes:
    """A 3.8 server's side of a handshake with security None, up to ServerInit.

    The ServerInit carries the canonical pixel format: the format the
    updates that follow are in.
    """
    raw_name = name.encode("utf-8")
    return b"".join(
        (
            b"RFB 003.008\n",
            bytes([1, SecurityType.NONE]),  # one security type: None
            _U32.pack(0),  # SecurityResult: OK
            struct.pack(">HH", width, height),
            CANONICAL_PIXEL_FORMAT,
            _U32.pack(len(raw_name)),
            raw_name,
        )
    )


def _cursor_rect(np: Any, cursor: tuple[Any, int, int]) -> bytes:
    """A Cursor pseudo-rect from a decoder's ``(rgba, hotspot_x, hotspot_y)``."""
    rgba, hot_x, hot_y = cursor
    h, w = rgba.shape[:2]
    rgbx = np.zeros((h, w, 4), np.uint8)
    rgbx[:, :, :3] = rgba[:, :, :3]
    mask = np.packbits(rgba[:, :, 3] == 255, axis=1) if w and h else np.zeros((h, 0), np.uint8)
    return _rect_header(hot_x, hot_y, w, h, Encoding.CURSOR) + rgbx.tobytes() + mask.tobytes()


def _zrle_tiles(pixels: "np.ndarray") -> bytes:
    """The (uncompressed) ZRLE tiles of ``pixels``: solid tiles as such, the others raw."""
    h, w = pixels.shape[:2]
    parts = []
    for ty in range(0, h, _ZRLE_TILE):
        for tx in range(0, w, _ZRLE_TILE):
            tile = pixels[ty : ty + _ZRLE_TILE, tx : tx + _ZRLE_TILE]
            first = tile[0, 0]
            if (tile == first).all():
                parts.append(b"\x01" + first.tobytes())
            else:
                parts.append(b"\x00" + tile.tobytes())
    return b"".join(parts)


def _changed_boxes(np: Any, before: "np.ndarray", after: "np.ndarray") -> list[tuple[int, int, int, int]]:
    """Bounding boxes ``(x, y, w, h)`` of the pixels that differ, one per 64-row band."""
    height, width = before.shape[:2]
    # bytes compared as (H, W * 3): contiguous reductions only (an any() over
    # the channel axis of (H, W, 3) would be 50x slower)
    changed = before.reshape(height, width * 3) != after.reshape(height, width * 3)
    rows = np.flatnonzero(changed.any(axis=1))
    boxes = []
    for band in np.unique(rows // _BAND).tolist():
        y0 = band * _BAND
        sub = changed[y0 : y0 + _BAND]
        ys = np.flatnonzero(sub.any(axis=1))
        xs = np.flatnonzero(sub.any(axis=0)) // 3
        boxes.append((int(xs[0]), y0 + int(ys[0]), int(xs[-1]) + 1 - int(xs[0]), int(ys[-1]) + 1 - int(ys[0])))
    return boxes


class FBSFrameRecorder:
    """Record a session's framebuffer states as a self-contained FBS file.

    The file is a synthesized server stream (see the module docstring): it
    starts with a handshake and the whole picture ``frame``, and each
    :meth:`update` appends one FramebufferUpdate that takes a fresh decoder
    from the previous state to the new one.  Decoded with
    :class:`vncenv.decode.StreamDecoder`, the file's framebuffer after its
    ``k``-th update equals the frame given to the ``k``-th call (the prologue
    being the 0th), bit for bit, whatever encoding the live session used.

    Not thread-safe: :class:`~vncenv.vnc.session.VNCSession` calls it under
    its lock.  Each message is one FBS block written with one ``write``.

    :param path_or_writer: a path, or an :class:`FBSWriter` (closed by :meth:`close`).
    :param frame: the current picture, ``(H, W, 3)`` uint8 RGB.
    :param name: the desktop name for the ServerInit.
    :param cursor: the current cursor, ``(rgba, hotspot_x, hotspot_y)``, or None.
    :param compress_level: zlib level of the file's ZRLE stream (1 = fast).
    :param fsync: fsync every block (see :class:`FBSWriter`).
    """

    def __init__(
        self,
        path_or_writer: PathOrFile | FBSWriter,
        frame: "np.ndarray",
        *,
        name: str = "",
        cursor: tuple[Any, int, int] | None = None,
        compress_level: int = 1,
        fsync: bool = False,
    ) -> None:
        import numpy as np

        self._np = np
        if not (isinstance(compress_level, int) and 0 <= compress_level <= 9):
            raise UsageError(f"compress_level must be an int in 0..9, not {compress_level!r}")
        if getattr(frame, "ndim", 0) != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise UsageError(f"frame must be an (H, W, 3) uint8 array, not {getattr(frame, 'shape', frame)!r}")
        height, width = frame.shape[:2]
        if not (0 < width <= 0xFFFF and 0 < height <= 0xFFFF):
            raise UsageError(f"a framebuffer of {width}x{height} cannot be recorded")
        #: the file's path (None when given a writer or a file object)
        self.path: str | None = os.fspath(path_or_writer) if _is_path(path_or_writer) else None  # type: ignore[arg-type]
        if isinstance(path_or_writer, FBSWriter):
            self._writer = path_or_writer
        else:
            self._writer = FBSWriter(path_or_writer, fsync=fsync)
        self._zlib = zlib.compressobj(compress_level)
        self._prev = np.array(frame, dtype=np.uint8, order="C")
        self.updates = 0  # FramebufferUpdates written after the prologue's
        self.closed = False
        try:
            self._writer.write(_server_init(width, height, name))
            rects = [self._zrle_rect(0, 0, self._prev)]
            if cursor is not None:
                rects.append(_cursor_rect(np, cursor))
            self._writer.write(_update_header(len(rects)) + b"".join(rects))
        except BaseException:
            self._writer.close()
            raise

    @property
    def blocks(self) -> int:
        return self._writer.blocks

    @property
    def bytes(self) -> int:
        return self._writer.bytes

    def _zrle_rect(self, x: int, y: int, pixels: "np.ndarray") -> bytes:
        h, w = pixels.shape[:2]
        data = self._zlib.compress(_zrle_tiles(pixels)) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
        return _rect_header(x, y, w, h, Encoding.ZRLE) + _U32.pack(len(data)) + data

    def update(self, frame: "np.ndarray", cursor: tuple[Any, int, int] | None = None) -> None:
        """Append one FramebufferUpdate that brings the file's picture to ``frame``.

        :param cursor: a new cursor shape to record (give it only when it changed).
        """
        if self.closed:
            raise UsageError("update() on a closed FBSFrameRecorder")
        np = self._np
        prev = self._prev
        rects = []
        if frame.shape != prev.shape:
            height, width = frame.shape[:2]
            rects.append(_rect_header(0, 0, width, height, Encoding.DESKTOP_SIZE))
            rects.append(self._zrle_rect(0, 0, frame))
            self._prev = prev = np.array(frame, dtype=np.uint8, order="C")
        else:
            for x, y, w, h in _changed_boxes(np, prev, frame):
                region = frame[y : y + h, x : x + w]
                rects.append(self._zrle_rect(x, y, region))
                prev[y : y + h, x : x + w] = region
        if cursor is not None:
            rects.append(_cursor_rect(np, cursor))
        self._writer.write(_update_header(len(rects)) + b"".join(rects))
        self.updates += 1

    def bell(self) -> None:
        """Append a Bell message."""
        self._writer.write(bytes([ServerMsg.BELL]))

    def cut_text(self, data: bytes) -> None:
        """Append a ServerCutText message carrying ``data`` (Latin-1 bytes)."""
        self._writer.write(struct.pack(">B3xI", ServerMsg.SERVER_CUT_TEXT, len(data)) + bytes(data))

    def close(self) -> None:
        """Close the file (idempotent)."""
        if not self.closed:
            self.closed = True
            self._writer.close()

    def __enter__(self) -> "FBSFrameRecorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FBSReplayServer:
    """Serve a recording over TCP: every client gets the recorded server stream.

    For each connection the server sends the recorded bytes -- as fast as the
    client reads them (``speed=None``, for benchmarks) or at the recorded
    times scaled by ``1/speed`` (``speed=1.0`` is real time) -- while reading
    and discarding whatever the client sends.  Then it half-closes the
    connection and closes it once the client has closed its side (or after
    ``linger`` seconds).  Connections are served concurrently, each in its own
    thread, reading the file independently.

    ``port=0`` picks a free port: read it from :attr:`port` after
    construction.  ``start()`` begins accepting; ``close()`` stops accepting,
    drops the open connections and joins the threads.  A context manager
    starts and closes it.  Counters: :attr:`connections` (accepted),
    :attr:`completed` (whole recording sent), :attr:`errors` (messages).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float | None = None,
        *,
        max_block: int = DEFAULT_MAX_BLOCK,
        linger: float = 5.0,
        chunk: int = 256 * 1024,
    ) -> None:
        if speed is not None and not speed > 0:
            raise UsageError(f"speed must be None or > 0, not {speed!r}")
        self.path = os.fspath(path)
        # Fail early on a missing or malformed file.
        FBSReader(self.path, max_block=max_block).close()
        self.speed = speed
        self.max_block = max_block
        self.linger = linger
        self.chunk = chunk
        self._listener = socket.create_server((host, port), reuse_port=False, backlog=128)
        self.host, self.port = self._listener.getsockname()[:2]
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._accept_thread: threading.Thread | None = None
        self._closing = threading.Event()
        self.connections = 0
        self.completed = 0
        self.errors: list[str] = []

    @property
    def address(self) -> str:
        return f"vnc://{self.host}:{self.port}"

    def start(self) -> "FBSReplayServer":
        if self._accept_thread is None:
            self._accept_thread = threading.Thread(
                target=self._accept_loop, name=f"fbs-replay-{self.port}", daemon=True
            )
            self._accept_thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, drop open connections, join the threads.  Idempotent."""
        self._closing.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._accept_thread is not None:
            self._accept_thread.join(timeout)
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout)

    def __enter__(self) -> "FBSReplayServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ------------------------------------------------------
    def _accept_loop(self) -> None:
        self._listener.settimeout(0.5)  # in case shutdown() does not wake accept()
        while not self._closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(None)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._closing.is_set():
                    conn.close()
                    return
                self.connections += 1
                self._conns.add(conn)
                t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
                self._threads.add(t)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        drained = threading.Event()
        drainer = threading.Thread(target=self._drain, args=(conn, drained), daemon=True)
        drainer.start()
        try:
            if self._send_recording(conn):
                with self._lock:
                    self.completed += 1
            # Half-close so the client reads everything, then FIN; wait for the
            # client to close before closing (closing with unread client data
            # queued would send a RST that can destroy data in flight).
            conn.shutdown(socket.SHUT_WR)
            drained.wait(self.linger)
        except (OSError, ProtocolError) as exc:
            if not self._closing.is_set() and not isinstance(exc, (BrokenPipeError, ConnectionResetError)):
                with self._lock:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            try:
                conn.close()
            finally:
                with self._lock:
                    self._conns.discard(conn)
                    self._threads.discard(threading.current_thread())

    @staticmethod
    def _drain(conn: socket.socket, done: threading.Event) -> None:
        """Read and discard what the client sends, until it closes."""
        try:
            while True:
                r, _, _ = select.select([conn], [], [], 1.0)
                if r and not conn.recv(65536):
                    break
        except (OSError, ValueError):
            pass
        finally:
            done.set()

    def _send_recording(self, conn: socket.socket) -> bool:
        """Send the recording; False if interrupted by close()."""
        with FBSReader(self.path, max_block=self.max_block) as reader:
            if self.speed is None:
                # Coalesce small blocks: one sendall per ~chunk bytes.
                pending: list[bytes] = []
                size = 0
                for _, data in reader:
                    if self._closing.is_set():
                        return False
                    pending.append(data)
                    size += len(data)
                    if size >= self.chunk:
                        conn.sendall(b"".join(pending))
                        pending, size = [], 0
                if pending:
                    conn.sendall(b"".join(pending))
                return True
            t0 = time.monotonic()
            first_ts: int | None = None
            for ts, data in reader:
                if first_ts is None:
                    first_ts = ts
                due = t0 + max(0, ts - first_ts) / 1000.0 / self.speed
                delay = due - time.monotonic()
                if delay > 0 and self._closing.wait(delay):
                    return False
                if self._closing.is_set():
                    return False
                conn.sendall(data)
            return True
