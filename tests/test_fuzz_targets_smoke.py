"""Every atheris target in tests/fuzz/ runs under atheris for a few hundred executions.

Each target gets its synthetic seeds (``make_corpus.py --no-recordings``) and
runs in a subprocess with a fixed libFuzzer seed: it must exit 0 and report
that it executed them all ("Done N runs").  The campaign itself (10^6
executions a target, seeds from real recordings) is ``sh tests/fuzz/campaign.sh``.

The reproducers in ``tests/fuzz/crashes/<bug>/fuzz_<target>-*.bin`` are run
through their target too, as regression tests of the bugs they found.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys

import pytest

import atheris  # noqa: F401  (a test dependency: the targets need it)
pytestmark = pytest.mark.core_only

FUZZ = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz")
TARGETS = sorted(os.path.basename(p)[len("fuzz_") : -len(".py")] for p in glob.glob(os.path.join(FUZZ, "fuzz_*.py")))
RUNS = 300
REPRODUCERS = sorted(glob.glob(os.path.join(FUZZ, "crashes", "*", "fuzz_*-*.bin")))

# The targets run on every input: no bug is passed over (VNCENV_FUZZ_SKIP, see
# tests/fuzz/_harness.py, is for campaigns while a found bug is being fixed).
_ENV = {k: v for k, v in os.environ.items() if k != "VNCENV_FUZZ_SKIP"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("fuzz-corpus")
    subprocess.run(
        [sys.executable, os.path.join(FUZZ, "make_corpus.py"), str(out), "--no-recordings"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out


def test_every_target_is_listed():
    expected = {"update", "raw", "copyrect", "zrle", "tight", "cursor", "desktop_size", "protocol", "fbs", "rewarder"}
    assert expected <= set(TARGETS)


@pytest.mark.parametrize("target", TARGETS)
def test_target_runs_on_its_seeds(target, corpus, tmp_path):
    seeds = corpus / target
    assert seeds.is_dir() and any(seeds.iterdir()), f"make_corpus.py wrote no seeds for {target}"
    env = dict(_ENV, PYTHONHASHSEED="0")
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(FUZZ, f"fuzz_{target}.py"),
            f"-runs={RUNS}",
            "-seed=1",
            "-timeout=30",
            "-print_final_stats=1",
            f"-artifact_prefix={tmp_path}{os.sep}",
            str(seeds),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"fuzz_{target} exited {proc.returncode}:\n{output[-4000:]}"
    done = re.search(r"^Done (\d+) runs", output, re.MULTILINE)
    assert done, f"fuzz_{target} did not report its runs:\n{output[-2000:]}"
    assert int(done.group(1)) == RUNS
    assert not os.listdir(tmp_path), f"fuzz_{target} wrote crash artifacts: {os.listdir(tmp_path)}"


@pytest.mark.parametrize(
    "path", REPRODUCERS, ids=[f"{os.path.basename(os.path.dirname(p))}/{os.path.basename(p)}" for p in REPRODUCERS]
)
def test_reproducer_passes_its_target(path):
    target = os.path.basename(path).split("-", 1)[0]
    code = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
        f"import {target}\n"
        f"{target}.run_one(open(sys.argv[3], 'rb').read())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, FUZZ, os.path.dirname(FUZZ), path],
        capture_output=True,
        text=True,
        timeout=60,
        env=_ENV,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
