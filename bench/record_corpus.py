"""Record FBS streams from real servers into bench/corpus/ (git-ignored).

Each recording is one client session (vncenv's, asking for the canonical
pixel format) against TigerVNC Xvnc while a scene runs on the display:

* ``photo-pan``: a photograph-like image panning across the full screen.

    python bench/record_corpus.py [--seconds 5] [--size 1280x720] [--out bench/corpus]

Recordings are made for zrle, lossless tight and tight JPEG (quality 8).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import numpy as np  # noqa: E402
import servers  # noqa: E402

from vncenv.runtimes.xvnc import Xvnc  # noqa: E402
from vncenv.vnc.session import VNCSession  # noqa: E402

ENCODINGS = {
    "zrle": {"encoding": "zrle"},
    "tight": {"encoding": "tight"},
    "tight-jpeg8": {"encoding": "tight", "quality_level": 8},
}


def photo_pan(server: Xvnc, stop: threading.Event) -> None:
    """Pan a photo twice the screen's width across it until ``stop``."""
    w, h = server.width, server.height
    image = servers.photo_image(2 * w, h, seed=1)
    scene = servers.Scene(server.display)
    try:
        x = 0
        while not stop.is_set():
            scene.put_image(0, 0, image[:, x : x + w])
            x = (x + 16) % w
            time.sleep(1 / 30)
    finally:
        scene.close()


SCENES = {"photo-pan": photo_pan}


def record(scene: str, encoding: str, size: tuple[int, int], seconds: float, out: str) -> str:
    path = os.path.join(out, f"{scene}-{size[0]}x{size[1]}-{encoding}.fbs")
    with Xvnc(*size, password="") as server:
        stop = threading.Event()
        painter = threading.Thread(target=SCENES[scene], args=(server, stop))
        painter.start()
        try:
            time.sleep(0.3)
            with VNCSession.connect(server.host, server.port, record=path, **ENCODINGS[encoding]) as session:
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    session.wait_for_update(timeout=5)
        finally:
            stop.set()
            painter.join()
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--out", default=os.path.join(HERE, "corpus"))
    parser.add_argument("--scene", choices=sorted(SCENES), action="append")
    parser.add_argument("--encoding", choices=sorted(ENCODINGS), action="append")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    os.makedirs(args.out, exist_ok=True)
    for scene in args.scene or sorted(SCENES):
        for encoding in args.encoding or list(ENCODINGS):
            path = record(scene, encoding, size, args.seconds, args.out)
            print(f"{path}: {os.path.getsize(path) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
