"""`vncenv capture` against real servers, FBS recording, replay and in-process decode."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import servers

from vncenv.decode import StreamDecoder
from vncenv.error import ConnectionClosed, ProtocolError
from vncenv.vnc.fbs import FBSReader, FBSReplayServer, FBSWriter

ENCODINGS = [
    pytest.param(["--encoding", "raw"], True, id="raw"),
    pytest.param(["--encoding", "zrle"], True, id="zrle"),
    pytest.param(["--encoding", "tight"], True, id="tight"),
    pytest.param(["--encoding", "tight", "--quality", "8"], False, id="tight-jpeg"),
]


def capture(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vncenv.cli", "capture", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def settled(server) -> np.ndarray:
    """The X server's pixels, once the VNC server's own framebuffer shows them.

    x11vnc polls the X display, so its framebuffer lags what was just drawn;
    an independent raw client (tests/servers.py) waits for it to catch up.
    """
    expected = servers.grab_screen(server)
    with servers.RawRFBClient(server.host, server.port, password=server.password) as oracle:
        oracle.wait_for_image(expected, timeout=20)
    return expected


def load_png(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return 99.0 if mse == 0 else float(10 * np.log10(255.0**2 / mse))


@pytest.mark.parametrize("options, lossless", ENCODINGS)
def test_capture_every_encoding(vnc_server, scene, tmp_path, options, lossless):
    s = scene(vnc_server, seed=3)
    s.photo()
    s.blocks(n=8)
    expected = settled(vnc_server)
    out, stats_path = tmp_path / "shot.png", tmp_path / "stats.json"
    r = capture(f"vnc://{vnc_server.host}:{vnc_server.port}", *options, "--out", str(out), "--stats-json", str(stats_path))
    assert r.returncode == 0, r.stderr
    got = load_png(out)
    if lossless:
        np.testing.assert_array_equal(got, expected)
    else:
        assert psnr(got, expected) >= 30
    stats = json.loads(stats_path.read_text())
    assert stats["updates"] >= 1 and stats["rects"] >= 1 and stats["bytes"] > 0
    assert stats["pixels"] >= expected.shape[0] * expected.shape[1]
    assert stats["cpu_seconds"] > 0 and stats["exit_status"] == 0


def test_capture_address_forms_npy_and_seconds(xvnc, scene, tmp_path):
    s = scene(xvnc, seed=4)
    s.photo()
    expected = servers.grab_screen(xvnc)
    display = int(xvnc.port) - 5900
    forms = [f"{xvnc.host}::{xvnc.port}"]
    if 0 <= display < 100:
        forms.append(f"{xvnc.host}:{display}")
    for i, address in enumerate(forms):
        out = tmp_path / f"shot{i}.npy"
        r = capture(address, "--encoding", "zrle", "--seconds", "1", "--out", str(out), "--stats-json", "-")
        assert r.returncode == 0, r.stderr
        np.testing.assert_array_equal(np.load(out), expected)
        assert json.loads(r.stdout)["updates"] >= 1


def test_capture_errors_are_one_line(tmp_path):
    r = capture("vnc://127.0.0.1:99999")
    assert r.returncode == 2 and "outside 1..65535" in r.stderr and r.stderr.count("\n") == 1
    r = capture("ftp://x")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    port, reservation = servers.free_port()
    reservation.release()
    r = capture(f"127.0.0.1::{port}", "--timeout", "5")
    assert r.returncode != 0 and "cannot connect" in r.stderr and r.stderr.count("\n") == 1


@pytest.mark.vnc_options(password="pw1234")
def test_capture_password_from_env_and_wrong_password(vnc_server, tmp_path):
    address = f"vnc://{vnc_server.host}:{vnc_server.port}"
    env = dict(os.environ, VNCENV_PASSWORD="pw1234")
    r = capture(address, "--out", str(tmp_path / "a.png"), env=env)
    assert r.returncode == 0, r.stderr
    r = capture(address, "--password", "nope", "--out", str(tmp_path / "b.png"))
    assert r.returncode == 3
    assert r.stderr.startswith("vncenv: authentication failed") and r.stderr.count("\n") == 1
    assert not (tmp_path / "b.png").exists()


@pytest.mark.parametrize("encoding", ["zrle", "tight"])
def test_record_replay_and_stream_decode(xvnc, scene, tmp_path, encoding):
    """A recorded session replays to the client and decodes in process identically."""
    s = scene(xvnc, seed=9)
    s.photo()
    fbs, first = tmp_path / "session.fbs", tmp_path / "first.npy"
    r = capture(
        f"vnc://{xvnc.host}:{xvnc.port}", "--encoding", encoding, "--seconds", "2",
        "--record", str(fbs), "--out", str(first),
    )
    assert r.returncode == 0, r.stderr
    live = np.load(first)

    # in process, through the sans-IO protocol
    stream, blocks = StreamDecoder.from_fbs(str(fbs))
    assert blocks[0].startswith(b"RFB 003.00")
    stream.feed(b"".join(blocks))
    np.testing.assert_array_equal(stream.framebuffer.array, live)

    # over loopback from the replay server, until it closes
    with FBSReplayServer(str(fbs)) as replay:
        out = tmp_path / "replayed.npy"
        r = capture(f"127.0.0.1::{replay.port}", "--encoding", encoding, "--until-closed", "--out", str(out))
        assert r.returncode == 0, r.stderr
        np.testing.assert_array_equal(np.load(out), live)


@pytest.mark.parametrize("encoding", ["zrle", "tight"])
def test_replayed_backlog_counts_every_update(xvnc, scene, tmp_path, encoding):
    """A replay arrives as one backlog: the session decodes it in batches
    (coalesced) and still counts every update and ends on the same picture."""
    from vncenv.vnc.session import VNCSession

    s = scene(xvnc, seed=21)
    fbs = tmp_path / "moving.fbs"
    with VNCSession(xvnc.host, xvnc.port, encoding=encoding, record=str(fbs)) as live:
        live.start()
        for _ in range(40):
            count = live.update_count
            s.blocks(n=3)
            s.sync()
            live.wait_for_update(timeout=10, after=count)
        final = live.snapshot()
    stream, blocks = StreamDecoder.from_fbs(str(fbs))
    stream.feed(b"".join(blocks))
    recorded = stream.decoder.updates
    assert recorded >= 40
    np.testing.assert_array_equal(stream.framebuffer.array, final)
    with FBSReplayServer(str(fbs)) as replay:
        with VNCSession("127.0.0.1", replay.port, encoding=encoding) as replayed:
            replayed.start()
            assert replayed.wait_closed(30)
            assert replayed.error is None
            assert replayed.stats().updates == recorded
            assert replayed.stats().rects == stream.decoder.rects
            np.testing.assert_array_equal(replayed.snapshot(), final)


def test_cut_recording_ends_cleanly(xvnc, scene, tmp_path):
    """Every prefix of a real recording decodes, or ends with a clean error."""
    s = scene(xvnc, seed=12)
    s.photo()
    s.blocks(n=20)
    fbs = tmp_path / "s.fbs"
    r = capture(f"vnc://{xvnc.host}:{xvnc.port}", "--encoding", "tight", "--seconds", "1", "--record", str(fbs))
    assert r.returncode == 0, r.stderr
    data = FBSReader(str(fbs)).read_all()
    rng = np.random.default_rng(0)
    cuts = sorted({*range(0, 64), *rng.integers(0, len(data), 150).tolist(), len(data) - 1})
    unclean = 0
    for cut in cuts:
        stream = StreamDecoder()
        try:
            stream.feed(data[:cut])
            stream.protocol.receive_data(b"")
            list(stream.protocol.events())
        except ConnectionClosed as exc:
            assert not exc.clean
            unclean += 1
        except ProtocolError:
            pytest.fail(f"a cut at {cut} raised ProtocolError: cuts must look like a closed connection")
    assert unclean > len(cuts) // 2

    # the whole recording written through FBSWriter again reads back the same
    copy = tmp_path / "copy.fbs"
    with FBSWriter(str(copy)) as w:
        for ts, block in FBSReader(str(fbs)):
            w.write(block, timestamp_ms=ts)
    assert FBSReader(str(copy)).read_all() == data


def test_capture_keeps_the_last_complete_update_when_the_stream_turns_bad(xvnc, scene, tmp_path):
    """A malformed update after good ones: exit 1 with one line, and --out holds the last good picture."""
    s = scene(xvnc, seed=21)
    s.photo()
    fbs = tmp_path / "good.fbs"
    r = capture(f"vnc://{xvnc.host}:{xvnc.port}", "--encoding", "zrle", "--seconds", "1", "--record", str(fbs),
                "--out", str(tmp_path / "live.npy"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    live = np.load(tmp_path / "live.npy")
    # a ZRLE rect over the whole screen whose zlib data is garbage, after the recorded stream
    h, w = live.shape[:2]
    bad = bytes([0, 0, 0, 1]) + (0).to_bytes(2, "big") * 2 + w.to_bytes(2, "big") + h.to_bytes(2, "big")
    bad += (16).to_bytes(4, "big", signed=True) + (8).to_bytes(4, "big") + b"\xde\xad\xbe\xef" * 2
    broken = tmp_path / "broken.fbs"
    with FBSWriter(str(broken)) as writer:
        for ts, block in FBSReader(str(fbs)):
            writer.write(block, timestamp_ms=ts)
        writer.write(bad)
    out = tmp_path / "last.npy"
    with FBSReplayServer(str(broken)) as replay:
        r = capture(f"127.0.0.1::{replay.port}", "--encoding", "zrle", "--until-closed", "--out", str(out))
    assert r.returncode == 1 and r.stderr.startswith("vncenv: protocol error") and r.stderr.count("\n") == 1
    np.testing.assert_array_equal(np.load(out), live)
