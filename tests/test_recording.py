"""Recording: VNCSession.record_to (self-contained FBS files from mid-session),
EpisodeRecorder / Recording (per-episode FBS + JSONL), and crash consistency
under kill -9.  Real servers: TigerVNC Xvnc with scenes, and local Pong remotes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import gymnasium
import numpy as np
import pytest
import servers
from servers import wait_until_equal
from procs import alive, descendants

import vncenv  # noqa: F401  (registers the vncenv/ ids)
from vncenv.decode import StreamDecoder
from vncenv.error import Timeout, UsageError
from vncenv.runtimes.metadata import decode_strip
from vncenv.spaces import KeyEvent, PointerEvent
from vncenv.vnc import events as ev
from vncenv.vnc.fbs import FBSFrameRecorder, FBSReader
from vncenv.vnc.session import VNCSession
from vncenv.wrappers.recording import (
    ACTIONS_NAME,
    FBS_NAME,
    META_NAME,
    REWARDS_NAME,
    EpisodeRecorder,
    Recording,
    episode_dirs,
    read_frames,
    read_jsonl,
    small_info,
    to_json,
)

PICTURE = (210, 160)  # Pong's picture; the screen adds the metadata strip below


def decode_file(path) -> tuple[list[np.ndarray], StreamDecoder]:
    """Every picture of an FBS file (after its prologue and each update), decoded on its own."""
    decoder = StreamDecoder()
    frames = []
    with FBSReader(path) as reader:
        for _, data in reader:
            for event in decoder.feed(data):
                if isinstance(event, ev.FramebufferUpdate):
                    frames.append(decoder.framebuffer.array.copy())
    return frames, decoder


def wait_updates(session: VNCSession, n: int, timeout: float = 10.0) -> None:
    """Wait for ``n`` more updates (or ``timeout`` seconds: servers send nothing when nothing changes)."""
    deadline = time.monotonic() + timeout
    target = session.update_count + n
    while session.update_count < target and time.monotonic() < deadline:
        try:
            session.wait_for_update(timeout=0.5)
        except Timeout:
            pass


# --------------------------------------------------------------------------
# FBSFrameRecorder on its own: decoded, every state comes back


def test_frame_recorder_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (100, 130, 3), dtype=np.uint8)
    cursor = (rng.integers(0, 256, (7, 9, 4), dtype=np.uint8), 2, 3)
    cursor[0][..., 3] = rng.choice([0, 255], (7, 9))
    states = [frame.copy()]
    path = tmp_path / "frames.fbs"
    with FBSFrameRecorder(path, frame, name="tëst", cursor=cursor) as rec:
        for i in range(30):
            frame = frame.copy()
            if i == 12:
                frame = rng.integers(0, 256, (70, 200, 3), dtype=np.uint8)  # a resize
            elif i % 4:  # i % 4 == 0: nothing changes (an empty update)
                y, x = rng.integers(0, 60, 2)
                frame[y : y + 30, x : x + 65] = rng.integers(0, 256, 3)
                frame[rng.integers(0, frame.shape[0]), rng.integers(0, frame.shape[1])] = 7
            rec.update(frame)
            states.append(frame.copy())
        rec.bell()
        rec.cut_text(b"clip")
        assert rec.updates == 30
    frames, decoder = decode_file(path)
    assert len(frames) == len(states)
    for i, (got, want) in enumerate(zip(frames, states)):
        np.testing.assert_array_equal(got, want, err_msg=f"state {i}")
    assert decoder.protocol.name == "tëst"
    rgba, hx, hy = decoder.decoder.cursor
    assert (hx, hy) == (2, 3)
    np.testing.assert_array_equal(rgba, cursor[0])
    # the bell and the cut text made it too
    with FBSReader(path) as reader:
        tail = list(StreamDecoder().feed_all(data for _, data in reader))[-2:]
    assert isinstance(tail[0], ev.Bell) and tail[1].data == b"clip"


def test_frame_recorder_rejects_bad_arguments(tmp_path):
    with pytest.raises(UsageError):
        FBSFrameRecorder(tmp_path / "a.fbs", np.zeros((10, 10), np.uint8))
    with pytest.raises(UsageError):
        FBSFrameRecorder(tmp_path / "b.fbs", np.zeros((10, 10, 3), np.float32))
    with pytest.raises(UsageError):
        FBSFrameRecorder(tmp_path / "c.fbs", np.zeros((10, 10, 3), np.uint8), compress_level=11)
    rec = FBSFrameRecorder(tmp_path / "d.fbs", np.zeros((10, 10, 3), np.uint8))
    rec.close()
    with pytest.raises(UsageError):
        rec.update(np.zeros((10, 10, 3), np.uint8))


# --------------------------------------------------------------------------
# VNCSession.record_to against Xvnc


def draw(scene) -> None:
    scene.photo()
    scene.blocks(n=10)
    scene.place_block(40, 60, 48, 32)


ENCODINGS = [
    pytest.param({"encoding": "raw"}, id="raw"),
    pytest.param({"encoding": "zrle"}, id="zrle"),
    pytest.param({"encoding": "tight"}, id="tight"),
    pytest.param({"encoding": "tight", "quality_level": 5}, id="tight-jpeg"),
]


@pytest.mark.parametrize("options", ENCODINGS)
def test_record_to_mid_session_decodes_to_the_session_picture(xvnc, scene, tmp_path, options):
    """A file started mid-session decodes on its own; picture k of the file is
    the session's picture after update first + k, exactly (lossy encodings
    too: the file re-encodes what the session decoded)."""
    s = scene(xvnc, seed=3)
    draw(s)
    with VNCSession.connect(xvnc.host, xvnc.port, **options) as session:
        lossless = "quality_level" not in options
        if lossless:
            wait_until_equal(session, xvnc)
        else:
            wait_updates(session, 2)
        first = session.record_to(tmp_path / "one.fbs")
        assert first <= session.update_count and session.recording == str(tmp_path / "one.fbs")
        seen = []
        for dx, dy in [(16, 0), (0, 12), (-7, 5), (30, -9)]:
            s.move_block(dx, dy)
            s.photo(300, 200, 160, 120, seed=dx + 100)
            session.wait_for_update(timeout=10)
            seen.append(session.snapshot_with_count())
        if lossless:
            wait_until_equal(session, xvnc)
        seen.append(session.snapshot_with_count())
        second = session.record_to(tmp_path / "two.fbs")  # switch files between two updates
        s.copy(0, 0, 120, 90, 200, 150)
        wait_updates(session, 1)
        seen.append(session.snapshot_with_count())
        end = session.record_to(None)
        assert end >= seen[-1][1] and session.recording is None and session.record_error is None
        assert session.record_to(None) is None  # nothing to stop
    one, _ = decode_file(tmp_path / "one.fbs")
    two, _ = decode_file(tmp_path / "two.fbs")
    assert len(one) == second - first + 1 and len(two) == end - second + 1
    assert np.array_equal(one[-1], two[0])  # no update lost or repeated at the switch
    for picture, count in seen:
        frames, start = (one, first) if count <= second else (two, second)
        np.testing.assert_array_equal(frames[count - start], picture, err_msg=f"update {count}")


def test_record_to_follows_a_resize(xvnc, scene, tmp_path):
    s = scene(xvnc, seed=5)
    draw(s)
    with VNCSession.connect(xvnc.host, xvnc.port, encoding="zrle") as session:
        wait_until_equal(session, xvnc)
        first = session.record_to(tmp_path / "resize.fbs")
        servers.resize(xvnc, 400, 300)
        s.refresh_size()
        draw(s)
        wait_until_equal(session, xvnc)
        picture, count = session.snapshot_with_count()
        session.record_to(None)
    frames, decoder = decode_file(tmp_path / "resize.fbs")
    assert frames[0].shape == (480, 640, 3) and frames[-1].shape == (300, 400, 3)
    np.testing.assert_array_equal(frames[count - first], picture)


def test_record_to_keeps_the_cursor(xvnc, scene, tmp_path):
    """With the Cursor pseudo-encoding, a new cursor shape during the recording
    and the shape at the start of the next file are both in the files."""
    with VNCSession.connect(xvnc.host, xvnc.port, encoding="zrle", cursor=True) as session:
        wait_updates(session, 1)
        session.record_to(tmp_path / "before.fbs")
        scene(xvnc, seed=1, hide_cursor=True)  # a new (transparent) cursor
        deadline = time.monotonic() + 10
        while session.cursor is None or session.cursor[0][..., 3].any():
            assert time.monotonic() < deadline, "the transparent cursor never came"
            wait_updates(session, 1, timeout=0.5)
        session.record_to(tmp_path / "after.fbs")
        expected = session.cursor
        session.record_to(None)
    for name in ("before.fbs", "after.fbs"):
        _, decoder = decode_file(tmp_path / name)
        rgba, hx, hy = decoder.decoder.cursor
        assert (hx, hy) == expected[1:]
        np.testing.assert_array_equal(rgba, expected[0])


def test_record_to_needs_a_connected_session_and_a_writable_path(xvnc, tmp_path):
    session = VNCSession(xvnc.host, xvnc.port)
    with pytest.raises(UsageError):
        session.record_to(tmp_path / "x.fbs")
    with VNCSession.connect(xvnc.host, xvnc.port) as session:
        with pytest.raises(FileNotFoundError):
            session.record_to(tmp_path / "no" / "such" / "dir.fbs")
        assert session.recording is None
        assert session.record_to(None) is None  # stopping with nothing running is fine


def test_a_write_error_stops_the_recording_not_the_session(xvnc, scene, tmp_path):
    """The file is a FIFO whose reader goes away after the prologue: the next
    write fails (EPIPE); the session carries on and says why it stopped."""
    fifo = tmp_path / "fifo.fbs"
    os.mkfifo(fifo)
    got = []

    def read_prologue():  # the handshake and the first picture, then close the read end
        with open(fifo, "rb") as f, FBSReader(f) as fbs:
            blocks = iter(fbs)
            got.extend([next(blocks), next(blocks)])

    reader = threading.Thread(target=read_prologue)
    reader.start()
    s = scene(xvnc, seed=2)
    s.place_block(10, 10, 20, 20)
    with VNCSession.connect(xvnc.host, xvnc.port, encoding="zrle") as session:
        wait_updates(session, 1)
        session.record_to(fifo)
        reader.join(10)
        assert got[0][1].startswith(b"RFB 003.008\n") and got[1][1][0] == 0  # a FramebufferUpdate
        deadline = time.monotonic() + 10
        step = 3
        while session.recording is not None:
            assert time.monotonic() < deadline, "the recording did not stop"
            step = -step
            s.move_block(step, step)
            wait_updates(session, 1, timeout=0.5)
        assert isinstance(session.record_error, BrokenPipeError)
        s.place_block(200, 200, 30, 30)
        wait_until_equal(session, xvnc)  # still decoding
        assert not session.closed and session.error is None


# --------------------------------------------------------------------------
# EpisodeRecorder without a picture source, and the JSONL reader


def test_episode_recorder_files_and_json(tmp_path):
    with EpisodeRecorder(tmp_path / "rec") as rec:
        with pytest.raises(UsageError):
            rec.log_action(1)
        path = rec.begin_episode(None, {"env_id": "x", "seed": np.int64(4)})
        assert os.path.basename(path) == "episode-000001"
        rec.log_action(np.int64(3))
        rec.log_step(np.float32(1.5), False, False, {"frame_id": 7, "lags.observation": (0.001, 0.002),
                                                     "big": np.zeros(100), "nested": {"a": 1}})  # fmt: skip
        rec.log_action([KeyEvent("Left", True), PointerEvent(10, 20, 1)])
        rec.log_step(-1, True, False, {})
        second = rec.begin_episode(None)  # ends the first
        assert os.path.basename(second) == "episode-000002"
    actions = read_jsonl(os.path.join(path, ACTIONS_NAME))
    assert [a["step"] for a in actions] == [0, 1]
    assert actions[0]["action"] == 3
    assert actions[1]["action"] == [
        {"type": "key", "key": 0xFF51, "down": True},
        {"type": "pointer", "x": 10, "y": 20, "buttons": 1},
    ]
    rewards = read_jsonl(os.path.join(path, REWARDS_NAME))
    assert [(r["step"], r["reward"], r["terminated"]) for r in rewards] == [(0, 1.5, False), (1, -1, True)]
    assert rewards[0]["info"] == {"frame_id": 7, "lags.observation": [0.001, 0.002]}
    with open(os.path.join(path, META_NAME)) as f:
        meta = json.load(f)
    assert meta["env_id"] == "x" and meta["seed"] == 4 and meta["steps"] == 2 and meta["complete"]
    assert meta["total_reward"] == 0.5 and meta["fbs"] is None
    assert not os.path.exists(os.path.join(path, FBS_NAME))
    assert episode_dirs(tmp_path / "rec") == [path, second]
    # a new recorder in the same folder numbers on
    with EpisodeRecorder(tmp_path / "rec") as rec:
        assert os.path.basename(rec.begin_episode()) == "episode-000003"


def test_to_json_and_small_info():
    assert to_json(np.uint8(3)) == 3 and to_json(np.bool_(True)) is True
    assert to_json(np.arange(3)) == [0, 1, 2] and to_json({"a": (1, 2.5)}) == {"a": [1, 2.5]}
    assert to_json(object).startswith("<class")
    info = small_info({"s": "x" * 2000, "t": "ok", "n": None, "skew": None, "pair": (1, 2), "deep": [(1, 2)]})
    assert info == {"t": "ok", "n": None, "skew": None, "pair": [1, 2]}


def test_read_jsonl_skips_only_a_cut_short_last_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a":1}\n{"a":2}\n{"a":')
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}]
    path.write_bytes(b'{"a":1}\n{"a":2}\n')
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}]
    path.write_bytes(b'{"a":1}\n{"a\n{"a":3}\n')
    with pytest.raises(ValueError, match="line 2"):
        read_jsonl(path)


# --------------------------------------------------------------------------
# The Recording wrapper on Pong


def test_recording_two_episodes(tmp_path):
    env = Recording(gymnasium.make("vncenv/Pong-v0", mode="sync"), tmp_path)
    try:
        episodes = []
        for seed in (1, 2):
            obs, info = env.reset(seed=seed)
            observed = {info["frame_id"]: obs}
            rng = np.random.default_rng(seed)
            actions = []
            for _ in range(50):
                action = int(rng.integers(6))
                obs, reward, terminated, truncated, info = env.step(action)
                assert "error" not in info
                observed[info["frame_id"]] = obs
                actions.append(action)
            episodes.append((observed, obs, actions))
    finally:
        env.close()
    dirs = episode_dirs(tmp_path)
    assert len(dirs) == 2
    for path, (observed, last_obs, actions) in zip(dirs, episodes):
        assert sorted(os.listdir(path)) == sorted([FBS_NAME, REWARDS_NAME, ACTIONS_NAME, META_NAME])
        rewards = read_jsonl(os.path.join(path, REWARDS_NAME))
        logged = read_jsonl(os.path.join(path, ACTIONS_NAME))
        assert [r["step"] for r in rewards] == list(range(50)) == [a["step"] for a in logged]
        assert [a["action"] for a in logged] == actions
        assert [r["info"]["frame_id"] for r in rewards] == sorted(observed)[1:]
        assert all(a["time"] <= r["time"] for a, r in zip(logged, rewards))
        with open(os.path.join(path, META_NAME)) as f:
            meta = json.load(f)
        assert meta["env_id"] == "vncenv/Pong-v0" and meta["complete"] and meta["steps"] == 50
        # the FBS file decodes on its own; its last picture is the last observation
        frames = [frame for _, frame in read_frames(os.path.join(path, FBS_NAME))]
        assert len(frames) == meta["fbs_last_update"] - meta["fbs_first_update"] + 1 >= 51
        np.testing.assert_array_equal(frames[-1][: PICTURE[0], : PICTURE[1]], last_obs)
        # and every observation of the episode is one of its pictures, exactly: the
        # first with the observation's frame id (the runtime draws the next picture
        # before its strip, so a later update may show that picture under this id)
        by_id = {}
        for frame in frames:
            meta_px = decode_strip(frame)
            if meta_px is not None:
                by_id.setdefault(meta_px.frame_id, frame)
        for frame_id, obs in observed.items():
            np.testing.assert_array_equal(by_id[frame_id][: PICTURE[0], : PICTURE[1]], obs)
    # the decode tool reads it too
    n = sum(1 for _ in read_frames(os.path.join(dirs[0], FBS_NAME)))  # the prologue's update and the rest
    out = subprocess.run(
        [sys.executable, "-m", "vncenv.decode", os.path.join(dirs[0], FBS_NAME), "--repeat", "1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert f"updates={n} " in out.stdout, out.stdout


# --------------------------------------------------------------------------
# kill -9


AGENT = textwrap.dedent(
    """
    import sys
    import gymnasium
    import vncenv
    from vncenv.wrappers.recording import Recording

    env = Recording(gymnasium.make("vncenv/Pong-v0", mode="sync"), sys.argv[1])
    env.reset(seed=0)
    i = 0
    while True:
        _, _, terminated, truncated, _ = env.step(i % 6)
        i += 1
        print(i, flush=True)
        if terminated or truncated:
            env.reset()
    """
)


def test_kill_9_leaves_readable_files_and_no_remote(tmp_path):
    record_dir = tmp_path / "rec"
    log = open(tmp_path / "agent.log", "wb")  # noqa: SIM115
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen(
        [sys.executable, "-c", AGENT, str(record_dir)], stdout=subprocess.PIPE, stderr=log, env=env
    )
    remote: set[int] = set()
    try:
        steps = 0
        while steps < 120:
            line = proc.stdout.readline()
            assert line, f"the agent died: {(tmp_path / 'agent.log').read_text()[-2000:]}"
            steps = int(line)
        remote = descendants(proc.pid)  # vncenv serve, Xvnc, ...
        assert len(remote) >= 2, remote
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        log.close()
        # the remote notices its parent is gone (parent-death signal, --parent-pid watch)
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in remote) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = sorted(pid for pid in remote if alive(pid))
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert not left, f"processes of the killed agent's remote still running: {left}"

    dirs = episode_dirs(record_dir)
    assert dirs
    total = 0
    for path in dirs:
        rewards = read_jsonl(os.path.join(path, REWARDS_NAME))
        actions = read_jsonl(os.path.join(path, ACTIONS_NAME))
        assert [r["step"] for r in rewards] == list(range(len(rewards)))
        assert [a["step"] for a in actions] == list(range(len(actions)))
        assert len(rewards) <= len(actions) <= len(rewards) + 1
        total += len(rewards)
        with open(os.path.join(path, META_NAME)) as f:
            json.load(f)
        # every complete block decodes, and every logged step's picture is there
        ids = set()
        with FBSReader(os.path.join(path, FBS_NAME)) as reader:
            blocks = list(reader)
        decoder = StreamDecoder()
        for _, data in blocks:
            for event in decoder.feed(data):
                if isinstance(event, ev.FramebufferUpdate):
                    m = decode_strip(decoder.framebuffer.array)
                    if m is not None:
                        ids.add(m.frame_id)
        assert {r["info"]["frame_id"] for r in rewards} <= ids
    assert total >= steps  # every step it reported is on disk
