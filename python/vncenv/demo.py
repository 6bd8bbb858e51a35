"""`make demo`: a random agent on a real VNC desktop, end to end.

It starts TigerVNC Xvnc (loopback, VNC auth) with a few X programs on it,
connects vncenv's client with Tight JPEG, and lets a random agent move and
click the pointer for a while, recording the session.  Then it prints what
happened -- updates/s, bytes, action-to-screen counts, in-process decode
throughput of the recording -- and saves a screenshot, the recording and the
stats in ``demo-out/``.

(The Gymnasium runtime replaces these X programs once it lands; the shape of
the demo stays.)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ._png import write_png
from .decode import BACKEND, INFLATER, StreamDecoder
from .error import Timeout
from .runtimes.xvnc import Xvnc
from .vnc.fbs import FBSReader
from .vnc.session import VNCSession

PROGRAMS = [
    ["xclock", "-update", "1", "-geometry", "220x220+40+40"],
    ["xeyes", "-geometry", "260x160+320+60"],
    ["xlogo", "-geometry", "200x200+60+320"],
    ["xclock", "-digital", "-update", "1", "-geometry", "300x40+320+300"],
]


def _progress(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def run(seconds: float, out_dir: Path, seed: int = 0) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    with Xvnc(800, 600, frame_rate=60) as server:
        _progress(f"Xvnc {server.display} on {server.address} (VNC auth, loopback only)")
        children = []
        for argv in PROGRAMS:
            if shutil.which(argv[0]):
                children.append(subprocess.Popen(argv, env=server.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        try:
            subprocess.run(["xsetroot", "-solid", "#24557a"], env=server.env(), check=False)
            fbs = out_dir / "session.fbs"
            session = VNCSession.connect(
                server.host, server.port, password=server.password, encoding="tight", quality_level=8, record=str(fbs)
            )
            with session:
                _progress(f"connected: {session.width}x{session.height} '{session.desktop_name}'")
                session.wait_for_update(timeout=10, after=0)
                steps, x, y = 0, session.width // 2, session.height // 2
                start = time.monotonic()
                next_report = start + 1
                while (now := time.monotonic()) - start < seconds:
                    x = int(np.clip(x + rng.integers(-40, 41), 0, session.width - 1))
                    y = int(np.clip(y + rng.integers(-40, 41), 0, session.height - 1))
                    buttons = 1 if rng.random() < 0.05 else 0
                    session.pointer_event(x, y, buttons)
                    steps += 1
                    try:
                        session.wait_for_update(timeout=1 / 30)
                    except Timeout:
                        pass
                    if now >= next_report:
                        s = session.stats()
                        _progress(f"{now - start:4.1f} s: {steps} actions, {s.updates} updates, {s.bytes / 1e6:.2f} MB")
                        next_report += 1
                elapsed = time.monotonic() - start
                frame = session.snapshot()
                stats = session.stats()
        finally:
            for child in children:
                child.terminate()
            for child in children:
                child.wait(5)
    write_png(out_dir / "screenshot.png", frame)

    blocks = [data for _, data in FBSReader(str(fbs))]
    data = b"".join(blocks)
    stream = StreamDecoder(password="x")
    cpu0 = time.process_time()
    stream.feed(data)
    decode_cpu = max(time.process_time() - cpu0, 1e-9)
    replay_equal = bool(np.array_equal(stream.framebuffer.array, frame))

    summary = {
        "seconds": round(elapsed, 3),
        "actions": steps,
        "actions_per_second": round(steps / elapsed, 1),
        "updates": stats.updates,
        "updates_per_second": round(stats.updates / elapsed, 1),
        "rects": stats.rects,
        "bytes": stats.bytes,
        "megapixels": round(stats.pixels / 1e6, 3),
        "decoder": BACKEND,
        "inflater": INFLATER,
        "recording_bytes": len(data),
        "replay_decode_mb_per_cpu_second": round(len(data) / 1e6 / decode_cpu, 1),
        "replay_matches_live_frame": replay_equal,
        "screenshot": str(out_dir / "screenshot.png"),
        "recording": str(fbs),
    }
    (out_dir / "stats.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vncenv.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", default=os.environ.get("VNCENV_DEMO_OUT", "demo-out"))
    args = parser.parse_args(argv)
    summary = run(args.seconds, Path(args.out))
    _progress("done")
    for key, value in summary.items():
        print(f"  {key:34s} {value}")
    return 0 if summary["updates"] > 0 and summary["replay_matches_live_frame"] else 1


if __name__ == "__main__":
    sys.exit(main())
