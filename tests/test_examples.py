"""examples/: each one runs, prints what it promises, and leaves no process behind."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from test_demo import run_watched

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def example(name: str, *args: str, timeout: float = 240):
    r = run_watched([sys.executable, str(EXAMPLES / name), *args], timeout=timeout, cwd=str(ROOT))
    assert r.returncode == 0, r.stderr[-3000:] + r.stdout
    assert r.leftovers() == [], f"{name} left processes running"
    return r


def test_random_agent():
    r = example("random_agent.py", "--steps", "200")
    assert "vncenv/Pong-v0: observations (210, 160, 3) uint8, actions Discrete(6)" in r.stdout
    m = re.search(r"^200 steps in [\d.]+ s \((\d+) steps/s\): total reward ([-+]\d+), (\d+) episode", r.stdout, re.M)
    assert m, r.stdout
    assert int(m[1]) > 0 and int(m[3]) >= 0
    assert r.pids  # it started a remote, and (above) stopped it


def test_random_agent_short_name():
    r = example("random_agent.py", "--env", "Breakout", "--steps", "50")
    assert "vncenv/Breakout-v0: observations (210, 160, 3)" in r.stdout and "50 steps in" in r.stdout


def test_train_ppo_short():
    r = example("train_ppo.py", "--steps", "256", "--n-steps", "128")
    m = re.search(r"^trained (\d+) steps in [\d.]+ s \((\d+) steps/s\) on vncenv/Pong-v0$", r.stdout, re.M)
    assert m, r.stdout
    assert int(m[1]) == 256 and int(m[2]) > 0
    assert re.search(r"^200 greedy steps: reward [-+]\d+$", r.stdout, re.M), r.stdout


def test_custom_runtime():
    r = example("custom_runtime.py", "--seconds", "4")
    assert re.search(r"^remote: xeyes on Xvnc :\d+, vnc://127\.0\.0\.1:\d+\+\d+\?password=\w+$", r.stdout, re.M)
    m = re.search(r"^agent: (\d+) steps, (\d+) episode\(s\) done, total reward ([-+][\d.]+), screen 320x240, "
                  r"(\d+) VNC updates$", r.stdout, re.M)  # fmt: skip
    assert m, r.stdout
    steps, episodes, updates = int(m[1]), int(m[2]), int(m[4])
    assert 20 <= steps <= 45 and updates >= 2
    assert episodes >= 1 and "pointer on the target" in r.stdout  # it reaches the target in ~2.5 s
    assert r.stdout.rstrip().endswith("stopped the remote: Xvnc, the program, the rewarder")
    assert len(r.pids) >= 2  # Xvnc and xeyes


@pytest.mark.parametrize("line", [
    "python examples/random_agent.py",
    "python examples/train_ppo.py --steps 2000",
    "python examples/custom_runtime.py",
])  # fmt: skip
def test_readme_shows_the_examples(line):
    assert line in (ROOT / "README.md").read_text()
