"""README.md works as written.

* Every ```python block runs, as is, in its own interpreter (in a scratch
  folder, with a timeout), and leaves no process behind.
* Shell blocks: a ```sh block right after the line
  ``<!-- readme-test: run -->`` is run here line by line, as is, through the
  installed ``vncenv`` command, in one scratch folder and in README order
  (``vncenv demo`` leaves the ``demo-out/`` that ``vncenv replay`` reads).  A
  line ending in ``&`` runs in the background until its block is done.  Each
  such line has a check in CHECKS, so a new README command needs a check
  here; every other shell line must be in NOT_RUN with the reason.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from procs import alive, descendants
from test_demo import Watched, run_watched

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
MARK = "<!-- readme-test: run -->"

_BLOCK = re.compile(r"^(?:(<!-- readme-test: \w+ -->)\n)?```(\w*)\n(.*?)^```", re.M | re.S)
BLOCKS = [(mark, lang, body) for mark, lang, body in _BLOCK.findall(README)]
PYTHON = [body for _, lang, body in BLOCKS if lang == "python"]
SHELL_RUN = [body for mark, lang, body in BLOCKS if lang == "sh" and mark == MARK]
SHELL_OTHER = [body for mark, lang, body in BLOCKS if lang == "sh" and mark != MARK]

NOT_RUN = {
    "make demo": "installs system packages as root; the run it makes is `vncenv demo`, run here and in test_demo.py",
    "make test": "is this test suite",
    "python examples/random_agent.py": "tests/test_examples.py runs every example",
    "python examples/train_ppo.py --steps 2000": "tests/test_examples.py runs it with fewer steps",
    "python examples/custom_runtime.py": "tests/test_examples.py runs every example",
}


def command_lines(body: str) -> list[str]:
    """The block's commands, without comments."""
    lines = []
    for line in body.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            lines.append(" ".join(words))  # (the README quotes nothing)
    return lines


# -- the Python blocks ---------------------------------------------------------------


@pytest.mark.parametrize("code", PYTHON, ids=[f"python{i}" for i in range(len(PYTHON))])
def test_python_block(code, tmp_path):
    r = run_watched([sys.executable, "-c", code], timeout=240, cwd=str(tmp_path))
    assert r.returncode == 0, f"README block failed:\n{code}\n{r.stderr[-3000:]}"
    assert r.leftovers() == [], "the block left processes running"


def test_the_python_blocks_are_the_promised_ones():
    assert len(PYTHON) >= 4
    gym = PYTHON[0]
    assert 'gymnasium.make("vncenv/Pong-v0")' in gym and len(gym.strip().splitlines()) <= 10
    assert any('make_vec("vncenv/Pong-v0", num_envs=2, vectorization_mode="vector_entry_point")' in b for b in PYTHON)
    assert any("remotes=address" in b for b in PYTHON)


# -- the shell blocks ----------------------------------------------------------------


def _png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _frames(path: Path) -> int:
    import imageio.v2 as iio

    reader = iio.get_reader(path, format="FFMPEG")
    try:
        return sum(1 for _ in reader)
    finally:
        reader.close()


def check_demo(r: Watched, cwd: Path) -> None:
    stats = json.loads((cwd / "demo-out" / "stats.json").read_text())
    assert stats["env"] == "vncenv/Breakout-v0" and stats["error"] is None
    assert stats["steps"] > 0 and stats["frames_received"] > 0 and 9.5 <= stats["seconds"] < 15
    assert _frames(cwd / "demo-out" / "video.mp4") > 100  # 15 fps for 10 s
    assert (cwd / "demo-out" / "screenshot.png").exists() and (cwd / "demo-out" / "session.fbs").exists()
    assert "steps/s" in r.stdout and r.leftovers() == []


def check_list(r: Watched, cwd: Path) -> None:
    ids = r.stdout.split()
    assert len(ids) > 100 and "vncenv/Pong-v0" in ids and all(i.startswith("vncenv/") for i in ids)


def check_list_pong(r: Watched, cwd: Path) -> None:
    assert r.stdout.split() == ["vncenv/Pong-v0", "ALE/Pong-v5", "160x210"]


def check_help(r: Watched, cwd: Path) -> None:
    for command in ("demo", "list", "capture", "record", "replay", "bench", "serve", "doctor"):
        assert re.search(rf"^\s+{command}\s", r.stdout, re.M)


def check_doctor(r: Watched, cwd: Path) -> None:
    assert "everything essential is in place" in r.stdout


def check_serve(r: Watched, cwd: Path) -> None:
    pass  # checked by what the next lines get from it


def check_shot(r: Watched, cwd: Path) -> None:
    shot = _png(cwd / "shot.png")
    assert shot.shape[1] == 320 and shot.shape[0] >= 420 and shot.std() > 10  # Breakout at scale 2 (+ metadata)


def check_zrle_stats(r: Watched, cwd: Path) -> None:
    stats = json.loads(r.stdout)
    assert stats["exit_status"] == 0 and stats["updates"] >= 2 and stats["encoding"] == "zrle"
    assert 1.9 <= stats["wall_seconds"] < 10


def check_npy(r: Watched, cwd: Path) -> None:
    last = np.load(cwd / "last.npy")
    assert last.shape == _png(cwd / "shot.png").shape and last.std() > 10


def check_record(r: Watched, cwd: Path) -> None:
    from vncenv.vnc.fbs import FBSReader

    assert "recorded" in r.stderr and "breakout.fbs" in r.stderr
    with FBSReader(cwd / "breakout.fbs") as reader:
        blocks = list(reader)
    assert blocks[0][1].startswith(b"RFB 003.00") and blocks[-1][0] >= 4000  # realtime Breakout: 5 s of updates


def check_replay_convert(r: Watched, cwd: Path) -> None:
    last = _png(cwd / "last.png")
    assert last.shape[1] == 320 and last.shape[0] > 420  # Breakout at scale 2, with the metadata strip
    assert _frames(cwd / "replay.mp4") > 50


def check_bench(r: Watched, cwd: Path) -> None:
    assert re.search(r"best of 3: cpu=[\d.]+s wall=[\d.]+s\s+[\d.]+ MB/s\s+[\d.]+ Mpx/s\s+[\d.]+ us/rect", r.stdout)


def drive_replay_server(args: list[str], cwd: Path) -> Watched:
    """`vncenv replay FILE --once` serves until a client saw it all: be that client."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
    try:
        line = proc.stdout.readline()
        m = re.search(r"on vnc://127\.0\.0\.1:(\d+) ", line)
        assert m, line + proc.stderr.read()
        capture = subprocess.run([shutil.which("vncenv"), "capture", f"127.0.0.1::{m[1]}", "--password", "any",
                                  "--until-closed", "--out", "replayed.png"], cwd=cwd, capture_output=True,
                                 text=True, timeout=120)  # fmt: skip
        assert capture.returncode == 0, capture.stderr
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Watched(proc.returncode, line + out, err)


def check_replay_served(r: Watched, cwd: Path) -> None:
    assert "served 1 connection(s), 1 complete" in r.stdout
    np.testing.assert_array_equal(_png(cwd / "replayed.png"), _png(cwd / "last.png"))


CHECKS = {
    "vncenv demo --env Breakout --seconds 10": check_demo,
    "vncenv list": check_list,
    "vncenv list pong -l": check_list_pong,
    "vncenv --help": check_help,
    "vncenv doctor": check_doctor,
    "vncenv serve gym-core --env ALE/Breakout-v5 --vnc-port 5905 --rewarder-port 15905 --password x &": check_serve,
    "vncenv capture vnc://127.0.0.1:5905 --password x --encoding tight --quality 8 --out shot.png": check_shot,
    "vncenv capture 127.0.0.1::5905 --password x --encoding zrle --seconds 2 --stats-json -": check_zrle_stats,
    "vncenv capture 127.0.0.1:5 --password x --out last.npy": check_npy,
    "vncenv record vnc://127.0.0.1:5905 --password x --seconds 5 -o breakout.fbs": check_record,
    "vncenv replay demo-out/session.fbs --to-png last.png --to-video replay.mp4": check_replay_convert,
    "vncenv bench demo-out/session.fbs --repeat 3": check_bench,
    "vncenv replay demo-out/session.fbs --once": check_replay_served,
}
DRIVERS = {"vncenv replay demo-out/session.fbs --once": drive_replay_server}


def test_every_shell_line_is_run_or_excused():
    run = [line for body in SHELL_RUN for line in command_lines(body)]
    other = [line for body in SHELL_OTHER for line in command_lines(body)]
    assert sorted(run) == sorted(CHECKS), "a README command to run has no check here (or the reverse)"
    for line in other:
        assert line in NOT_RUN, f"README shell line {line!r} is neither run by this test nor excused in NOT_RUN"
    for line in NOT_RUN:
        assert line in other, f"NOT_RUN names {line!r}, which the README no longer shows"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("readme")


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"the background command exited: {proc.communicate()[1][-2000:]}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            assert time.monotonic() < deadline, f"nothing answers on port {port} after {timeout} s"
            time.sleep(0.2)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.parametrize("block", SHELL_RUN, ids=[command_lines(b)[0].split(" --")[0] for b in SHELL_RUN])
def test_shell_block(block, workdir):
    vncenv_exe = shutil.which("vncenv")
    assert vncenv_exe, "the vncenv console script is not on PATH"
    if "demo-out/" in block and not (workdir / "demo-out" / "session.fbs").exists():  # run alone (-k)
        demo = next(line for line in CHECKS if line.startswith("vncenv demo"))
        assert run_watched(shlex.split(demo), timeout=180, cwd=str(workdir)).returncode == 0
    background: list[subprocess.Popen] = []
    try:
        for line in command_lines(block):
            words = shlex.split(line)
            if words[-1] == "&":
                ports = [int(w) for flag, w in zip(words, words[1:]) if flag in ("--vnc-port", "--rewarder-port")]
                for port in ports:
                    if not _port_free(port):
                        pytest.fail(f"port {port}, which the README uses, is taken by another program")
                proc = subprocess.Popen(words[:-1], cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True)  # fmt: skip
                background.append(proc)
                for port in ports:
                    _wait_port(port, proc)
                CHECKS[line](Watched(0, "", ""), workdir)
                continue
            if line in DRIVERS:
                r = DRIVERS[line](words, workdir)
            else:
                r = run_watched(words, timeout=180, cwd=str(workdir))
            assert r.returncode == 0, f"{line}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
            CHECKS[line](r, workdir)
    finally:
        for proc in background:
            started = descendants(proc.pid)  # for vncenv serve: Xvnc
            proc.terminate()  # vncenv serve stops what it started on SIGTERM
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            deadline = time.monotonic() + 10
            while any(alive(p) for p in started) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not [p for p in started if alive(p)], "the background command left processes running"
