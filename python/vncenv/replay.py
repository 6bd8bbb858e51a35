"""``vncenv replay``: watch an FBS recording, live or as files.

Two ways, one command:

* **serve** (the default): an :class:`~vncenv.vnc.fbs.FBSReplayServer` on
  loopback plays the recording to every VNC client that connects, at the
  recorded pace (``--speed``) or as fast as the client reads (``--fast``).
  The bytes go out exactly as recorded: the handshake is the recorded
  server's (a password-protected recording accepts any password, since the
  recorded verdict is replayed) and the pixels are in the recorder's pixel
  format.  vncenv's clients and :mod:`vncenv.decode` read them as they were;
  a third-party viewer that asks for another pixel format is not obeyed, so
  it may show red and blue swapped.
* **convert** (``--to-png`` and/or ``--to-video``): decode the recording in
  process (:class:`~vncenv.decode.StreamDecoder`, no socket) into the last
  picture as a PNG and/or a video of the session sampled at ``--video-fps``
  in recorded time (divided by ``--speed``).

:func:`frames` is the converter's core: the framebuffer as it was at each
tick of recorded time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["frames", "convert", "serve"]

#: Any password "works" for a recording of a VNC-auth session: the verdict is replayed.
REPLAY_PASSWORD = "replay"


def frames(path: str, fps: float = 15.0, speed: float = 1.0, max_frames: int | None = None,
           stats: dict[str, Any] | None = None) -> Iterator[tuple[float, np.ndarray]]:  # fmt: skip
    """Yield ``(recorded_seconds, picture)`` for each tick of ``1/fps`` seconds
    of output time (``speed`` recorded seconds per output second), each picture
    an owned copy of the framebuffer after every block recorded up to that tick,
    and finally the last picture.  ``stats`` (a dict, if given) is filled with
    ``updates``, ``bytes``, ``duration_seconds``, ``width`` and ``height``.
    """
    from .decode import StreamDecoder
    from .vnc.fbs import FBSReader

    step_ms = 1000.0 * speed / fps
    stream = StreamDecoder(password=REPLAY_PASSWORD)
    emitted = 0
    next_ms = 0.0
    last_ms = 0
    with FBSReader(path) as reader:
        for ts, data in reader:
            while _shown(stream) and ts > next_ms:  # ticks before this block
                if max_frames is not None and emitted >= max_frames:
                    break
                yield next_ms / 1000.0, stream.framebuffer.array.copy()
                emitted += 1
                next_ms += step_ms
            if not _shown(stream):
                next_ms = max(next_ms, float(ts))  # the clock starts at the first picture
            stream.feed(data)
            last_ms = ts
    if stats is not None:
        dec, fb = stream.decoder, stream.framebuffer
        stats.update(updates=dec.updates if dec is not None else 0, bytes=stream.bytes_fed,
                     duration_seconds=last_ms / 1000.0, width=fb.width if fb is not None else None,
                     height=fb.height if fb is not None else None)  # fmt: skip
    if _shown(stream) and (max_frames is None or emitted < max_frames):
        yield last_ms / 1000.0, stream.framebuffer.array.copy()


def _shown(stream: Any) -> bool:
    """A first update has been decoded."""
    return stream.decoder is not None and stream.decoder.updates > 0


def convert(path: str, *, to_png: str | None = None, to_video: str | None = None, fps: float = 15.0,
            speed: float = 1.0, max_frames: int = 3000, max_side: int = 640) -> dict[str, Any]:  # fmt: skip
    """Decode the recording into a PNG of its last picture and/or a video; a summary dict.

    :raises vncenv.error.ProtocolError: a malformed recording (the files hold
        what was decoded before the error).
    """
    from ._png import write_png
    from .video import VideoWriter

    stats: dict[str, Any] = {"file": path}
    writer = VideoWriter(to_video, fps, max_side=max_side) if to_video else None
    last: np.ndarray | None = None
    try:
        if writer is None:  # only the last picture: one tick at the very end
            ticks = frames(path, fps=1e-9, stats=stats)
        else:
            ticks = frames(path, fps=fps, speed=speed, max_frames=max_frames, stats=stats)
        for _, picture in ticks:
            last = picture
            if writer is not None:
                writer.append(picture)
    finally:
        if writer is not None:
            writer.close()
        if to_png and last is not None:
            write_png(to_png, last)
    if to_png:
        stats["png"] = to_png if last is not None else None
    if writer is not None:
        stats["video"] = {"path": str(writer.path), "format": writer.format, "frames": writer.frames,
                          "fps": fps, "fallback_reason": writer.fallback_reason}  # fmt: skip
    return stats


def serve(path: str, *, host: str = "127.0.0.1", port: int = 0, speed: float | None = 1.0, once: bool = False,
          seconds: float | None = None, announce: Any = print) -> dict[str, Any]:  # fmt: skip
    """Serve the recording until Ctrl-C, ``seconds``, or (``once``) the first
    client has been sent all of it and closed; a summary dict."""
    from .vnc.fbs import FBSReplayServer

    server = FBSReplayServer(path, host=host, port=port, speed=speed)
    pace = "as fast as clients read" if speed is None else f"at {speed:g}x the recorded pace"
    end = None if seconds is None else time.monotonic() + seconds
    with server:
        where = f"{server.host}::{server.port}"
        announce(f"serving {path} on vnc://{server.host}:{server.port} ({pace}); "
                 f"watch it with e.g. `vncenv capture {where} --until-closed --out last.png`")  # fmt: skip
        try:
            while end is None or time.monotonic() < end:
                if once and server.completed >= 1 and not _open_connections(server):
                    break
                if once and server.errors:
                    break
                time.sleep(0.05)
        except KeyboardInterrupt:
            pass
    return {"file": path, "port": server.port, "connections": server.connections,
            "completed": server.completed, "errors": list(server.errors)}  # fmt: skip


def _open_connections(server: Any) -> int:
    # FBSReplayServer keeps its live connections in _conns (no public count yet).
    with server._lock:
        return len(server._conns)
