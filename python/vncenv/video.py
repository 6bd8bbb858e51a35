"""Short videos of what an agent saw: MP4 through imageio-ffmpeg, GIF as the fallback.

:class:`VideoWriter` takes RGB frames one at a time.  An ``.mp4`` goes
straight to an ffmpeg process (the binary imageio-ffmpeg ships, H.264,
yuv420p), frame by frame, so a long run never sits in memory.  If ffmpeg
cannot be used (imageio-ffmpeg missing, its binary refusing to start), or the
path ends in ``.gif``, the frames are written as an animated GIF through
Pillow instead; a GIF is built in memory at :meth:`VideoWriter.close`, so it
keeps at most ``max_gif_frames`` (evenly thinned) at half size when large.

Used by ``vncenv demo`` and ``vncenv replay --to-video``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["VideoWriter", "fit"]


def fit(frame: np.ndarray, max_side: int) -> np.ndarray:
    """``frame`` shrunk by an integer factor until its longer side is at most
    ``max_side`` (nearest neighbour: pixel art stays crisp), then cropped to
    even width and height (what H.264 in yuv420p needs)."""
    h, w = frame.shape[:2]
    step = 1
    while max(h, w) // step > max_side:
        step += 1
    if step > 1:
        frame = frame[::step, ::step]
    h, w = frame.shape[:2]
    return frame[: h - h % 2, : w - w % 2]


class VideoWriter:
    """Write frames to ``path`` (``.mp4``, or ``.gif``) at ``fps`` frames per second.

    :param path: where to write; with ``fmt="auto"`` an ``.mp4`` that cannot be
        made is written as ``.gif`` next to it (:attr:`path` says where).
    :param fps: playback rate.
    :param fmt: ``"auto"`` (MP4, else GIF), ``"mp4"`` (fail without ffmpeg)
        or ``"gif"``.
    :param max_side: frames are shrunk (by an integer factor) to at most this.
    :param max_gif_frames: a GIF keeps at most this many frames.

    After :meth:`close`: :attr:`path`, :attr:`format` (``"mp4"`` / ``"gif"``),
    :attr:`frames` (written), :attr:`fallback_reason` (why MP4 was not used).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float = 15.0,
        *,
        fmt: str = "auto",
        max_side: int = 640,
        max_gif_frames: int = 300,
    ) -> None:
        if fmt not in ("auto", "mp4", "gif"):
            raise ValueError(f"fmt must be 'auto', 'mp4' or 'gif', not {fmt!r}")
        self.path = Path(path)
        self.fps = float(fps)
        self.max_side = max_side
        self.max_gif_frames = max_gif_frames
        self.frames = 0
        self.fallback_reason: str | None = None
        self._mp4: Any = None
        self._gif: list[np.ndarray] = []
        self._closed = False
        if self.path.suffix.lower() == ".gif":
            fmt = "gif"
        if fmt in ("auto", "mp4"):
            try:
                self._mp4 = self._open_mp4(self.path.with_suffix(".mp4"))
                self.path = self.path.with_suffix(".mp4")
            except Exception as exc:  # no imageio-ffmpeg, or its binary does not run
                if fmt == "mp4":
                    raise
                self.fallback_reason = f"{type(exc).__name__}: {exc}".strip()
        if self._mp4 is None:
            self.path = self.path.with_suffix(".gif")
        self.format = "mp4" if self._mp4 is not None else "gif"

    def _open_mp4(self, path: Path) -> Any:
        import imageio.v2 as iio
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()  # raises if there is no binary
        try:
            ok = subprocess.run([exe, "-version"], capture_output=True, timeout=20).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if not ok:
            raise RuntimeError(f"{exe} does not run")
        return iio.get_writer(
            str(path), format="FFMPEG", mode="I", fps=self.fps, codec="libx264", pixelformat="yuv420p",
            quality=6, macro_block_size=2, ffmpeg_log_level="error",
        )  # fmt: skip

    def append(self, frame: np.ndarray) -> None:
        """Add one (H, W, 3) uint8 RGB frame."""
        if self._closed:
            raise ValueError("append() on a closed VideoWriter")
        frame = fit(np.asarray(frame, dtype=np.uint8), self.max_side)
        if self._mp4 is not None:
            try:
                self._mp4.append_data(frame)
            except Exception as exc:  # ffmpeg died under us: keep going as a GIF
                self.fallback_reason = f"ffmpeg failed while writing: {exc}"
                self._abandon_mp4()
                self._gif.append(frame.copy())
        else:
            self._gif.append(frame.copy())
        self.frames += 1

    def _abandon_mp4(self) -> None:
        writer, self._mp4 = self._mp4, None
        try:
            writer.close()
        except Exception:
            pass
        try:
            self.path.unlink()
        except OSError:
            pass
        self.path = self.path.with_suffix(".gif")
        self.format = "gif"
        self.frames = 0

    def close(self) -> None:
        """Finish the file (waits for ffmpeg).  Idempotent; writes nothing if no frame came."""
        if self._closed:
            return
        self._closed = True
        if self._mp4 is not None:
            writer, self._mp4 = self._mp4, None
            writer.close()
            if self.frames == 0:
                try:
                    self.path.unlink()
                except OSError:
                    pass
            return
        frames = self._gif
        self._gif = []
        if not frames:
            return
        duration_ms = 1000.0 / self.fps
        if len(frames) > self.max_gif_frames:  # thin evenly, keep the duration
            keep = np.linspace(0, len(frames) - 1, self.max_gif_frames).round().astype(int)
            duration_ms *= len(frames) / self.max_gif_frames
            frames = [frames[i] for i in keep]
        if max(frames[0].shape[:2]) > 320:
            frames = [f[::2, ::2] for f in frames]
        import imageio.v3 as iio

        iio.imwrite(self.path, np.stack(frames), plugin="pillow", duration=int(round(duration_ms)), loop=0)
        self.frames = len(frames)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
