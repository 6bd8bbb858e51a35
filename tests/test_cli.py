"""The `vncenv` command: every subcommand's help, list, doctor, and record -> bench -> replay
on a real Xvnc."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import servers

from vncenv.envs.registration import RUNTIME_IDS
from vncenv.vnc.fbs import FBSReader

COMMANDS = ["demo", "list", "capture", "record", "replay", "bench", "serve", "doctor"]


def vncenv(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vncenv.cli", *args], capture_output=True, text=True,
                          timeout=timeout, **kwargs)  # fmt: skip


def test_the_console_script_is_installed():
    exe = shutil.which("vncenv")
    assert exe, "the vncenv console script is not on PATH (pip install -e .)"
    r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("vncenv ")


def test_help_lists_every_command():
    r = vncenv("--help")
    assert r.returncode == 0, r.stderr
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s+\S", r.stdout, re.M), f"{command} missing from --help"


@pytest.mark.parametrize("command", [*COMMANDS, "serve gym-core"])
def test_every_command_has_help(command):
    r = vncenv(*command.split(), "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"usage: vncenv {command}")
    assert len(r.stdout.splitlines()) > 5


def test_no_command_is_a_usage_error():
    r = vncenv()
    assert r.returncode == 2 and "COMMAND" in r.stderr


def test_list():
    r = vncenv("list")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == list(RUNTIME_IDS)
    assert "vncenv/Pong-v0" in r.stdout and "vncenv/CartPole-v0" in r.stdout

    r = vncenv("list", "pong")
    assert r.returncode == 0 and r.stdout.splitlines() == ["vncenv/Pong-v0"]
    r = vncenv("list", "CART", "--long")
    assert r.returncode == 0
    assert r.stdout.split() == ["vncenv/CartPole-v0", "CartPole-v1", "600x400"]
    r = vncenv("list", "ALE/Breakout", "-l")
    assert r.stdout.split() == ["vncenv/Breakout-v0", "ALE/Breakout-v5", "160x210"]
    r = vncenv("list", "no-such-game")
    assert r.returncode == 1 and r.stdout == "" and "no env id matches" in r.stderr


ESSENTIAL = {
    "decode core", "libturbojpeg", "Xvnc", "vncpasswd", "gymnasium", "ale-py ROMs", "python-xlib", "websockets",
}  # fmt: skip


def test_doctor_on_this_machine():
    r = vncenv("doctor")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "everything essential is in place" in r.stdout
    for name in ESSENTIAL | {"x11vnc", "Docker", "imageio-ffmpeg"}:
        assert re.search(rf"^  \w+\s+{re.escape(name)}\s", r.stdout, re.M), f"no {name} line"

    r = vncenv("doctor", "--json", "--live")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["ok"] is True
    for name in ESSENTIAL | {"x11vnc", "live session"}:
        assert checks[name]["status"] == "ok", checks[name]
    assert "inflater" in checks["decode core"]["detail"]
    assert "ROMs" in checks["ale-py ROMs"]["detail"]
    # Docker is optional: the engine answers or not, and then the fix is named
    docker = checks["Docker"]
    assert docker["essential"] is False and docker["status"] in ("ok", "warn")
    assert docker["status"] == "ok" or docker["fix"]


def test_doctor_names_the_fix_and_fails_when_xvnc_is_missing(tmp_path):
    bindir = tmp_path / "bin"  # a PATH with only python: no Xvnc, no vncpasswd, no docker
    bindir.mkdir()
    os.symlink(sys.executable, bindir / "python3")
    env = dict(os.environ, PATH=str(bindir))
    env.pop("DOCKER_HOST", None)
    r = vncenv("doctor", env=env)
    assert r.returncode == 1, r.stdout
    assert re.search(r"^  missing\s+Xvnc\s", r.stdout, re.M)
    assert "fix: apt-get install -y --no-install-recommends tigervnc-standalone-server" in r.stdout
    assert "fix: apt-get install -y --no-install-recommends tigervnc-tools" in r.stdout
    assert re.search(r"^  warn\s+x11vnc\s", r.stdout, re.M)  # optional
    assert "essential piece(s) missing: Xvnc, vncpasswd" in r.stdout and "make install" in r.stdout


def load_png(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_record_bench_replay(xvnc, scene, tmp_path):
    s = scene(xvnc, seed=5)
    s.photo()
    s.fill(10, 10, 60, 40, (255, 0, 0))
    fbs, live = tmp_path / "rec.fbs", tmp_path / "live.npy"
    address = f"vnc://{xvnc.host}:{xvnc.port}"

    # record while the screen changes
    rec = subprocess.Popen(
        [sys.executable, "-m", "vncenv.cli", "record", address, "--seconds", "3", "-o", str(fbs),
         "--encoding", "tight", "--screenshot", str(live), "--stats-json", str(tmp_path / "stats.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(1.0)
    for _ in range(5):
        s.blocks(n=1)
        time.sleep(0.2)
    out, err = rec.communicate(timeout=60)
    assert rec.returncode == 0, err
    assert err.startswith("recorded ") and str(fbs) in err
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["updates"] >= 2 and stats["width"] == xvnc.width and stats["record"] == str(fbs)
    with FBSReader(fbs) as reader:
        blocks = list(reader)
    assert blocks[0][1].startswith(b"RFB 003.00")
    assert sum(len(b) for _, b in blocks) >= stats["bytes"] > 0
    expected = np.load(live)
    np.testing.assert_array_equal(expected, servers.grab_screen(xvnc))  # lossless Tight

    # bench: the same stream, decoded in process
    r = vncenv("bench", str(fbs), "--repeat", "2", "--json")
    assert r.returncode == 0, r.stderr
    b = json.loads(r.stdout)
    assert b["updates"] == stats["updates"] and b["rects"] == stats["rects"] and b["pixels"] == stats["pixels"]
    assert (b["width"], b["height"]) == (xvnc.width, xvnc.height) and b["repeat"] == 2
    assert b["mb_per_s"] > 0 and b["mpx_per_s"] > 0 and b["us_per_rect"] > 0 and b["updates_per_s"] > 0
    r = vncenv("bench", str(fbs), "--repeat", "1")
    assert r.returncode == 0
    for unit in ("MB/s", "Mpx/s", "us/rect", "updates/s", f"{xvnc.width}x{xvnc.height}"):
        assert unit in r.stdout

    # replay, converted: the last picture is the live one; a video of more than one frame
    png, mp4, gif = tmp_path / "last.png", tmp_path / "rec.mp4", tmp_path / "rec.gif"
    r = vncenv("replay", str(fbs), "--to-png", str(png), "--to-video", str(mp4), "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    np.testing.assert_array_equal(load_png(png), expected)
    import imageio.v2 as iio

    reader = iio.get_reader(mp4, format="FFMPEG")
    frames = [f for f in reader]  # (list() would trust its len(): inf)
    reader.close()
    assert len(frames) == summary["video"]["frames"] > 10  # ~3 s at 15 fps
    assert frames[-1].shape == expected.shape
    assert np.abs(frames[-1].astype(int) - expected).mean() < 12  # lossy H.264
    r = vncenv("replay", str(fbs), "--to-video", str(gif), "--video-fps", "5")
    assert r.returncode == 0 and "gif" in r.stdout
    assert iio.mimread(gif).__len__() > 1

    # replay, served: any client watches it over loopback, then the server stops (--once)
    server = subprocess.Popen([sys.executable, "-m", "vncenv.cli", "replay", str(fbs), "--once", "--fast"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        line = server.stdout.readline()
        m = re.search(r"on vnc://127\.0\.0\.1:(\d+) ", line)
        assert m, line
        out = tmp_path / "replayed.npy"
        r = vncenv("capture", f"127.0.0.1::{m[1]}", "--until-closed", "--out", str(out))
        assert r.returncode == 0, r.stderr
        np.testing.assert_array_equal(np.load(out), expected)
        rest, err = server.communicate(timeout=30)
        assert server.returncode == 0, err
        assert "served 1 connection(s), 1 complete" in rest
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_record_until_closed_or_ctrl_c(xvnc, scene, tmp_path):
    scene(xvnc, seed=6).photo()
    # until the server closes: a replay server that has sent its recording
    first = tmp_path / "first.fbs"
    r = vncenv("record", f"vnc://{xvnc.host}:{xvnc.port}", "--seconds", "1", "-o", str(first))
    assert r.returncode == 0, r.stderr
    from vncenv.vnc.fbs import FBSReplayServer

    again = tmp_path / "again.fbs"
    with FBSReplayServer(first) as replay:
        r = vncenv("record", f"127.0.0.1::{replay.port}", "--until-closed", "-o", str(again))
    assert r.returncode == 0, r.stderr
    assert FBSReader(again).read_all() == FBSReader(first).read_all()  # the very same stream

    # Ctrl-C: a normal end that keeps the recording
    fbs = tmp_path / "ctrl-c.fbs"
    proc = subprocess.Popen([sys.executable, "-m", "vncenv.cli", "record", f"127.0.0.1::{xvnc.port}",
                             "--until-closed", "-o", str(fbs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    deadline = time.monotonic() + 30
    while not (fbs.exists() and fbs.stat().st_size > 10_000):  # the first full screen is in
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped by Ctrl-C" in err
    with FBSReader(fbs) as reader:
        assert not reader.truncated
        assert sum(len(b) for _, b in reader) > 10_000


def test_record_arguments():
    r = vncenv("record", "127.0.0.1::5900", "-o", "x.fbs")
    assert r.returncode == 2 and "--seconds" in r.stderr
    r = vncenv("record", "ftp://x", "-o", "x.fbs", "--seconds", "1")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    port, reservation = servers.free_port()
    reservation.release()
    r = vncenv("record", f"127.0.0.1::{port}", "-o", "x.fbs", "--seconds", "1", "--timeout", "3")
    assert r.returncode == 4 and "cannot connect" in r.stderr


def test_bench_and_replay_errors(tmp_path):
    bad = tmp_path / "bad.fbs"
    bad.write_bytes(b"not a recording at all")
    r = vncenv("bench", str(bad))
    assert r.returncode == 1 and "not an FBS recording" in r.stderr and r.stderr.count("\n") == 1
    r = vncenv("replay", str(bad), "--to-png", str(tmp_path / "x.png"))
    assert r.returncode == 1 and "not an FBS recording" in r.stderr
    r = vncenv("replay", str(tmp_path / "missing.fbs"))
    assert r.returncode == 2 and "no such file" in r.stderr
    r = vncenv("bench", str(bad), "--repeat", "0")
    assert r.returncode == 2
