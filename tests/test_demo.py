"""`make demo` / `vncenv demo`: a real run end to end, its files, its exit, its cleanup.

``run_watched`` (used by test_examples.py and test_readme.py too) runs a
command while sampling the processes below it, so a test can check that none
of them outlives the command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from procs import alive, descendants

from vncenv.demo import resolve_env_id
from vncenv.error import UsageError


@dataclass
class Watched:
    returncode: int
    stdout: str
    stderr: str
    pids: set[int] = field(default_factory=set)  # every process seen below the command

    def leftovers(self, grace: float = 10.0) -> list[int]:
        """The seen processes still alive after ``grace`` seconds."""
        deadline = time.monotonic() + grace
        while (left := sorted(p for p in self.pids if alive(p))) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left


def run_watched(args: list[str], timeout: float = 180, *, interrupt_after: str | None = None,
                **kwargs) -> Watched:  # fmt: skip
    """Run ``args``, sampling its process tree every 0.1 s; with ``interrupt_after``,
    send SIGINT once that text appeared on stdout."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    out: list[str] = []
    err: list[str] = []
    readers = [threading.Thread(target=lambda s=s, d=d: d.extend(iter(s.readline, "")), daemon=True)
               for s, d in ((proc.stdout, out), (proc.stderr, err))]  # fmt: skip
    for t in readers:
        t.start()
    pids: set[int] = set()
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None:
            if time.monotonic() > deadline:
                pytest.fail(f"{args} did not finish within {timeout} s")
            pids |= descendants(proc.pid)
            if interrupt_after and interrupt_after in "".join(out):
                proc.send_signal(signal.SIGINT)
                interrupt_after = None
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for t in readers:
            t.join(10)
    return Watched(proc.returncode, "".join(out), "".join(err), pids)


def demo(*args: str, **kwargs) -> Watched:
    return run_watched([sys.executable, "-m", "vncenv.demo", *args], **kwargs)


def test_demo_writes_its_files_and_leaves_nothing_running(tmp_path):
    out = tmp_path / "out"
    r = demo("--seconds", "5", "--out", str(out))
    assert r.returncode == 0, r.stderr + r.stdout
    assert r.pids, "the demo started no process: no remote?"
    assert r.leftovers() == []

    stats = json.loads((out / "stats.json").read_text())
    assert stats["env"] == "vncenv/Pong-v0" and stats["runtime_env"] == "ALE/Pong-v5"
    assert stats["error"] is None and stats["exit_status"] == 0 and not stats["interrupted"]
    assert stats["steps"] > 50 and stats["frames_received"] > 50
    assert 4.5 <= stats["seconds"] < 10 and stats["steps_per_second"] > 10
    assert stats["frames_per_second"] > 10
    assert stats["remote_errors"] == 0 and stats["leftover_processes"] == []
    assert stats["observation_lag_ms"]["median"] >= 0 and stats["rewarder_lag_ms"]["p95"] >= 0
    assert stats["vnc"]["updates"] >= stats["frames_received"] and stats["vnc"]["bytes"] > 0
    assert stats["decoder"] in ("core", "python") and stats["inflater"]
    assert set(stats["outputs"]) == {"screenshot", "video", "recording", "stats"}

    from PIL import Image

    with Image.open(out / "screenshot.png") as im:
        shot = np.asarray(im.convert("RGB"))
    assert shot.shape == (420, 320, 3) and shot.std() > 0  # scale 2 of Pong's 210x160

    import imageio.v2 as iio

    assert stats["video"]["format"] == "mp4" and stats["video"]["fallback_reason"] is None
    reader = iio.get_reader(out / "video.mp4", format="FFMPEG")
    try:
        frames = [f for f in reader]
        meta = reader.get_meta_data()
    finally:
        reader.close()
    assert len(frames) == stats["video"]["frames"] > 1
    assert 60 <= len(frames) <= 90  # 15 fps for 5 s, plus the first frame
    assert frames[0].shape == (420, 320, 3) and meta["fps"] == 15
    assert (out / "video.mp4").stat().st_size < 2_000_000

    from vncenv.vnc.fbs import FBSReader

    with FBSReader(out / "session.fbs") as fbs:
        assert next(iter(fbs))[1].startswith(b"RFB 003.00")

    # not a terminal: plain status lines, about one a second
    lines = [line for line in r.stdout.splitlines() if "steps/s" in line and "reward" in line]
    assert 3 <= len(lines) <= 6, r.stdout
    assert "frames received" in r.stdout and "observation lag" in r.stdout


def test_demo_falls_back_to_gif_when_ffmpeg_does_not_run(tmp_path):
    env = dict(os.environ, IMAGEIO_FFMPEG_EXE="/bin/false")
    r = demo("--env", "Breakout", "--seconds", "2", "--out", str(tmp_path), "--no-record", env=env)
    assert r.returncode == 0, r.stderr + r.stdout
    assert "writing a GIF" in r.stdout
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["env"] == "vncenv/Breakout-v0"
    assert stats["video"]["format"] == "gif" and "/bin/false" in stats["video"]["fallback_reason"]
    assert not (tmp_path / "video.mp4").exists() and not (tmp_path / "session.fbs").exists()
    import imageio.v3 as iio

    frames = iio.imread(tmp_path / "video.gif", index=None)
    assert frames.shape[0] == stats["video"]["frames"] > 1
    assert r.leftovers() == []


def test_demo_ctrl_c_still_writes_and_cleans_up(tmp_path):
    r = demo("--seconds", "60", "--out", str(tmp_path), interrupt_after="first frame after")
    assert r.returncode == 130, r.stderr + r.stdout
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["interrupted"] and stats["exit_status"] == 130 and stats["seconds"] < 30
    assert r.pids and r.leftovers() == []


def test_demo_bad_arguments(tmp_path):
    r = demo("--env", "Pongg", "--out", str(tmp_path))
    assert r.returncode == 2
    assert "vncenv/Pong-v0" in r.stderr and r.stderr.count("\n") == 1
    r = demo("--seconds", "0", "--out", str(tmp_path))
    assert r.returncode == 2 and "--seconds" in r.stderr
    assert not r.pids


@pytest.mark.parametrize(
    "name, expected",
    [
        ("vncenv/Pong-v0", "vncenv/Pong-v0"),
        ("Breakout", "vncenv/Breakout-v0"),
        ("breakout", "vncenv/Breakout-v0"),
        ("Breakout-v0", "vncenv/Breakout-v0"),
        ("ALE/Breakout-v5", "vncenv/Breakout-v0"),
        ("CartPole", "vncenv/CartPole-v0"),
        ("cartpole-v1", "vncenv/CartPole-v0"),
        ("MontezumaRevenge", "vncenv/MontezumaRevenge-v0"),
    ],
)
def test_resolve_env_id(name, expected):
    assert resolve_env_id(name) == expected


def test_resolve_env_id_unknown():
    with pytest.raises(UsageError, match="did you mean vncenv/Breakout-v0"):
        resolve_env_id("Breakuot")
    with pytest.raises(UsageError, match="vncenv list"):
        resolve_env_id("NoSuchGame")


def test_video_writer_gif_and_mp4(tmp_path):
    from vncenv.video import VideoWriter, fit

    frames = [np.full((421, 321, 3), i * 20, np.uint8) for i in range(5)]
    with VideoWriter(tmp_path / "a.mp4", fps=10) as w:
        for f in frames:
            w.append(f)
    assert w.format == "mp4" and w.path == tmp_path / "a.mp4" and w.frames == 5
    with VideoWriter(tmp_path / "b.mp4", fps=10, fmt="gif", max_gif_frames=3) as g:
        for f in frames:
            g.append(f)
    assert g.path == tmp_path / "b.gif" and g.format == "gif" and g.frames == 3
    import imageio.v3 as iio

    assert iio.imread(g.path, index=None).shape == (3, 210, 160, 3)  # thinned, halved, even
    assert fit(np.zeros((1080, 1920, 3), np.uint8), 640).shape == (360, 640, 3)
    empty = VideoWriter(tmp_path / "c.mp4")
    empty.close()
    assert not (tmp_path / "c.mp4").exists()
