"""Record FBS streams from real servers into bench/corpus/ (git-ignored).

Each recording is one client session (vncenv's, asking for the canonical
pixel format) against a real VNC server while a real program draws on its
display:

* ``atari``: Breakout from ale-py (its bundled ROM) with random actions,
  every frame scaled 4x (nearest) and put on a 640x840 screen at ~60 fps.
* ``photo-pan``: a photograph-like image twice the screen's width panning
  across the full screen (16 px a frame, 30 fps); 1280x720 and 1920x1080.
* ``terminal``: xterm, full screen, with a program printing text lines
  (8 lines every 1/60 s), so the terminal scrolls.
* ``animation``: 160 small sprites bouncing around plus a spinning star,
  drawn with X core requests at 60 fps (many small rects per update).

Servers: TigerVNC ``Xvnc`` for every scene, and ``Xvfb`` + ``x11vnc`` (with
the tests' :data:`X11VNC_RELIABLE_ARGS`) for photo-pan 1280x720 and the
terminal.  Each is recorded with ``zrle``, lossless ``tight`` and
``tight-jpeg8`` (Tight with JPEG quality level 8).

The stream is cut after its last complete message (the recorder closes
mid-update), and ``corpus/manifest.json`` lists every recording with its
scene, server, size, encoding options and counts (see bench/rfbwalk.py).

    python3 bench/record_corpus.py [--seconds 5] [--out bench/corpus]
        [--only NAME-SUBSTRING ...] [--missing]

Every server and program is started by this script and stopped by pid, with
timeouts; nothing is killed by name.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import rfbwalk  # noqa: E402
import servers  # noqa: E402

from vncenv.runtimes.xvnc import Xvnc  # noqa: E402
from vncenv.vnc.fbs import FBSReader, FBSWriter  # noqa: E402
from vncenv.vnc.session import VNCSession  # noqa: E402

ENCODINGS = {
    "zrle": {"encoding": "zrle"},
    "tight": {"encoding": "tight"},
    "tight-jpeg8": {"encoding": "tight", "quality_level": 8},
}

# (scene, width, height, server)
PLAN = [
    ("atari", 640, 840, "xvnc"),
    ("photo-pan", 1280, 720, "xvnc"),
    ("photo-pan", 1920, 1080, "xvnc"),
    ("terminal", 1280, 720, "xvnc"),
    ("animation", 1280, 720, "xvnc"),
    ("photo-pan", 1280, 720, "x11vnc"),
    ("terminal", 1280, 720, "x11vnc"),
]


def recording_name(scene: str, width: int, height: int, server: str, encoding: str) -> str:
    return f"{scene}-{width}x{height}-{server}-{encoding}"


# --------------------------------------------------------------------------
# Drawing: fast full-frame PutImage on a tests/servers.Scene's connection
# --------------------------------------------------------------------------


class Painter:
    """python-xlib drawing on the root window, with a fast RGB -> ZPixmap pack."""

    def __init__(self, display: str) -> None:
        self.scene = servers.Scene(display, hide_cursor=True)
        self.d, self.root, self.gc, self.fmt = self.scene.d, self.scene.root, self.scene.gc, self.scene.fmt
        self.width, self.height = self.scene.width, self.scene.height
        shifts = [s for s, _ in self.fmt.shifts]
        # BGRX in memory: red in bits 16-23 of a little-endian u32.
        self._bgrx = shifts == [16, 8, 0] and self.fmt.byteorder == "<"

    def pack(self, rgb: np.ndarray) -> bytes:
        if not self._bgrx:
            return self.fmt.pack(rgb)
        h, w, _ = rgb.shape
        out = np.zeros((h, w, 4), np.uint8)
        out[:, :, 0] = rgb[:, :, 2]
        out[:, :, 1] = rgb[:, :, 1]
        out[:, :, 2] = rgb[:, :, 0]
        return out.tobytes()

    def put(self, x: int, y: int, rgb: np.ndarray) -> None:
        from Xlib import X

        h, w, _ = rgb.shape
        data = self.pack(np.ascontiguousarray(rgb))
        stride = w * 4
        rows = max(1, 200_000 // stride)  # python-xlib has no BIG-REQUESTS
        for y0 in range(0, h, rows):
            n = min(rows, h - y0)
            self.root.put_image(self.gc, x, y + y0, w, n, X.ZPixmap, 24, 0, data[y0 * stride : (y0 + n) * stride])
        self.d.sync()

    def pixel(self, rgb) -> int:
        return self.fmt.pixel(rgb)

    def close(self) -> None:
        self.scene.close()


def _paced(stop: threading.Event, fps: float):
    """Yield frame numbers at ``fps`` until ``stop``."""
    period = 1.0 / fps
    t = time.monotonic()
    frame = 0
    while not stop.is_set():
        yield frame
        frame += 1
        t += period
        delay = t - time.monotonic()
        if delay > 0:
            stop.wait(delay)
        else:
            t = time.monotonic()  # fell behind: do not try to catch up


# --------------------------------------------------------------------------
# Scenes.  Each runs until `stop`; `ready` is set once the first frame is up.
# --------------------------------------------------------------------------


def scene_photo_pan(display: str, stop: threading.Event, ready: threading.Event) -> None:
    p = Painter(display)
    try:
        w, h = p.width, p.height
        image = servers.photo_image(2 * w, h, seed=1)
        for frame in _paced(stop, 30):
            x = (16 * frame) % w
            p.put(0, 0, image[:, x : x + w])
            ready.set()
    finally:
        p.close()


def scene_atari(display: str, stop: threading.Event, ready: threading.Event) -> None:
    import ale_py
    import gymnasium as gym

    gym.register_envs(ale_py)
    env = gym.make("ALE/Breakout-v5", repeat_action_probability=0.0)
    obs, _ = env.reset(seed=0)
    env.action_space.seed(0)
    p = Painter(display)
    scale = 4
    try:
        fh, fw = obs.shape[0] * scale, obs.shape[1] * scale
        x0, y0 = max(0, (p.width - fw) // 2), max(0, (p.height - fh) // 2)
        for _ in _paced(stop, 60):
            big = np.repeat(np.repeat(obs, scale, axis=0), scale, axis=1)
            p.put(x0, y0, big[: p.height, : p.width])
            ready.set()
            obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                obs, _ = env.reset()
    finally:
        p.close()
        env.close()


def scene_animation(display: str, stop: threading.Event, ready: threading.Event) -> None:
    from Xlib import X

    p = Painter(display)
    try:
        rng = np.random.default_rng(3)
        w, h = p.width, p.height
        bg_rgb = (24, 28, 40)
        bg = p.root.create_gc(foreground=p.pixel(bg_rgb), graphics_exposures=False)
        palette = [(230, 80, 60), (250, 200, 60), (90, 200, 90), (70, 150, 240), (200, 90, 220), (240, 240, 240)]
        gcs = [p.root.create_gc(foreground=p.pixel(c), graphics_exposures=False) for c in palette]
        star_gc = p.root.create_gc(foreground=p.pixel((255, 140, 0)), graphics_exposures=False)
        p.root.fill_rectangle(bg, 0, 0, w, h)
        n = 160
        size = rng.integers(6, 25, size=n)
        pos = np.stack([rng.uniform(0, w - size), rng.uniform(0, h - size)], axis=1)
        vel = rng.uniform(-6, 6, size=(n, 2))
        colour = rng.integers(0, len(gcs), size=n)
        cx, cy, radius = w // 2, h // 2, min(w, h) // 5
        old_rects: list[tuple[int, int, int, int]] = []
        for frame in _paced(stop, 60):
            # erase last frame's sprites and star box, move, draw
            if old_rects:
                p.root.poly_fill_rectangle(bg, old_rects)
            pos += vel
            for axis, limit in ((0, w), (1, h)):
                low = pos[:, axis] < 0
                high = pos[:, axis] > limit - size
                vel[low | high, axis] *= -1
                pos[:, axis] = np.clip(pos[:, axis], 0, limit - size)
            angle = frame * 0.05
            pts = []
            for k in range(10):
                r = radius if k % 2 == 0 else radius * 0.45
                a = angle + k * math.pi / 5
                pts.append((int(cx + r * math.cos(a)), int(cy + r * math.sin(a))))
            p.root.fill_poly(star_gc, X.Complex, X.CoordModeOrigin, pts)
            rects = [(int(x), int(y), int(s), int(s)) for (x, y), s in zip(pos, size)]
            for i, gc in enumerate(gcs):
                mine = [r for r, c in zip(rects, colour) if c == i]
                if mine:
                    p.root.poly_fill_rectangle(gc, mine)
            old_rects = rects + [(cx - radius - 1, cy - radius - 1, 2 * radius + 3, 2 * radius + 3)]
            p.d.sync()
            ready.set()
    finally:
        p.close()


_TERMINAL_PROGRAM = r"""
import sys, time, random
rng = random.Random(7)
words = ("vnc framebuffer update rect zlib tight jpeg palette gradient tile raw copyrect "
         "socket decode inflate pixel cursor desktop session replay client server bench").split()
i = 0
period = 1 / 60
t = time.monotonic()
while True:
    out = []
    for _ in range(8):
        i += 1
        n = rng.randint(3, 30)
        out.append(f"{i:8d} {time.strftime('%H:%M:%S')} " + " ".join(rng.choice(words) for _ in range(n)))
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()
    t += period
    d = t - time.monotonic()
    if d > 0:
        time.sleep(d)
    else:
        t = time.monotonic()
"""


def scene_terminal(display: str, stop: threading.Event, ready: threading.Event) -> None:
    p = Painter(display)  # hides the cursor, checks the display
    w, h = p.width, p.height
    p.close()
    cols, rows = w // 6, h // 13  # the "fixed" font is 6x13
    script = os.path.join(tempfile.mkdtemp(prefix="vncenv-bench-term-"), "scroll.py")
    with open(script, "w") as f:
        f.write(_TERMINAL_PROGRAM)
    env = dict(os.environ, DISPLAY=display)
    env.pop("XAUTHORITY", None)
    proc = subprocess.Popen(
        ["xterm", "-geometry", f"{cols}x{rows}+0+0", "-fn", "fixed", "-bg", "black", "-fg", "grey85",
         "-b", "0", "-bw", "0", "+sb", "-e", sys.executable, "-u", script],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        if stop.wait(0.8):  # xterm maps its window and starts scrolling
            return
        if proc.poll() is not None:
            raise RuntimeError(f"xterm exited with status {proc.returncode}")
        ready.set()
        stop.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()  # by pid
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        try:
            os.unlink(script)
            os.rmdir(os.path.dirname(script))
        except OSError:
            pass


SCENES = {
    "atari": scene_atari,
    "photo-pan": scene_photo_pan,
    "terminal": scene_terminal,
    "animation": scene_animation,
}


# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------


@dataclass
class Running:
    display: str
    host: str
    port: int


class _XvncServer:
    def __init__(self, w: int, h: int) -> None:
        self.server = Xvnc(w, h, password="", frame_rate=60)

    def __enter__(self) -> Running:
        s = self.server.start()
        return Running(s.display, s.host, s.port)

    def __exit__(self, *exc) -> None:
        self.server.stop()


class _X11vncServer:
    def __init__(self, w: int, h: int) -> None:
        self.server = servers.X11vncServer(w, h)

    def __enter__(self) -> Running:
        s = self.server.start()
        return Running(s.display, s.host, s.port)

    def __exit__(self, *exc) -> None:
        self.server.cleanup()


SERVERS = {"xvnc": _XvncServer, "x11vnc": _X11vncServer}


# --------------------------------------------------------------------------
# Recording
# --------------------------------------------------------------------------


def trim(path: str) -> dict:
    """Cut the recording after its last complete message; return its summary."""
    with FBSReader(path) as reader:
        blocks = list(reader)
    data = b"".join(d for _, d in blocks)
    keep = rfbwalk.complete_prefix(data)
    if keep < len(data):
        tmp = path + ".tmp"
        with FBSWriter(tmp) as w:
            left = keep
            for ts, d in blocks:
                if left <= 0:
                    break
                w.write(d[:left], timestamp_ms=ts)
                left -= len(d)
        os.replace(tmp, path)
    info = rfbwalk.summary(data[:keep])
    info["trimmed_bytes"] = len(data) - keep
    return info


def record(scene: str, w: int, h: int, server: str, encoding: str, seconds: float, out: str) -> dict:
    name = recording_name(scene, w, h, server, encoding)
    path = os.path.join(out, name + ".fbs")
    with SERVERS[server](w, h) as srv:
        stop, ready = threading.Event(), threading.Event()
        errors: list[BaseException] = []

        def run_scene() -> None:
            try:
                SCENES[scene](srv.display, stop, ready)
            except BaseException as exc:  # reported below
                errors.append(exc)
                ready.set()

        painter = threading.Thread(target=run_scene, name=f"scene-{scene}", daemon=True)
        painter.start()
        try:
            if not ready.wait(30) or errors:
                raise RuntimeError(f"scene {scene} did not start: {errors[0] if errors else 'timeout'}")
            time.sleep(0.3)
            with VNCSession.connect(srv.host, srv.port, timeout=20, record=path, **ENCODINGS[encoding]) as session:
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    try:
                        session.wait_for_update(timeout=max(0.05, min(5.0, end - time.monotonic())))
                    except Exception as exc:  # Timeout: a quiet moment; anything else: fail
                        if type(exc).__name__ != "Timeout":
                            raise
        finally:
            stop.set()
            painter.join(30)
        if errors:
            raise RuntimeError(f"scene {scene} failed: {errors[0]!r}")
    info = trim(path)
    info.update(
        name=name, file=os.path.basename(path), scene=scene, server=server, encoding=encoding,
        options=ENCODINGS[encoding], seconds=seconds, recorded=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )  # fmt: skip
    return info


def load_manifest(out: str) -> dict:
    path = os.path.join(out, "manifest.json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {"recordings": {}}


def save_manifest(out: str, manifest: dict) -> None:
    path = os.path.join(out, "manifest.json")
    with open(path + ".tmp", "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)


def planned(only: list[str] | None = None) -> list[tuple[str, int, int, str, str]]:
    items = [(s, w, h, srv, e) for (s, w, h, srv) in PLAN for e in ENCODINGS]
    if only:
        items = [i for i in items if any(o in recording_name(*i) for o in only)]
    return items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--out", default=os.path.join(HERE, "corpus"))
    parser.add_argument("--only", action="append", help="record only names containing this (repeatable)")
    parser.add_argument("--missing", action="store_true", help="record only what the manifest lacks")
    parser.add_argument("--list", action="store_true", help="print the plan and exit")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    manifest = load_manifest(args.out)
    failed = 0
    for item in planned(args.only):
        name = recording_name(*item)
        if args.list:
            print(name)
            continue
        if args.missing and name in manifest["recordings"] and os.path.exists(os.path.join(args.out, name + ".fbs")):
            continue
        t0 = time.monotonic()
        try:
            info = record(*item, seconds=args.seconds, out=args.out)
        except Exception as exc:
            failed += 1
            print(f"{name}: FAILED: {exc!r}", file=sys.stderr)
            continue
        manifest["recordings"][name] = info
        save_manifest(args.out, manifest)
        print(
            f"{name}: {info['bytes'] / 1e6:.1f} MB, {info['updates']} updates, {info['rects']} rects "
            f"({time.monotonic() - t0:.1f} s)",
            flush=True,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))  # run finally: blocks (servers stop)
    sys.exit(main())
