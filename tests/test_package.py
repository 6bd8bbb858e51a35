"""Package-level promises: import side effects, the build hint, the CLI's help."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "python" / "vncenv"


def run_python(code: str, env: dict | None = None, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, cwd=cwd, timeout=60
    )


def test_import_starts_no_thread_and_opens_no_socket():
    r = run_python(
        """
        import os, threading
        before = set(os.listdir('/proc/self/fd'))
        import vncenv, vncenv.decode, vncenv.vnc.session, vncenv.cli
        after = set(os.listdir('/proc/self/fd'))
        sockets = [fd for fd in after - before if os.readlink(f'/proc/self/fd/{fd}').startswith('socket:')]
        print(threading.active_count(), len(sockets))
        """,
        env={k: v for k, v in os.environ.items() if k != "DISPLAY"},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "0"]


@pytest.mark.core_only
def test_missing_core_says_how_to_build(tmp_path):
    """A checkout without the compiled core fails to import with build instructions."""
    copy = tmp_path / "vncenv"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    env = dict(os.environ, PYTHONPATH=str(tmp_path), VNCENV_DECODER="core")
    r = run_python("import vncenv", env=env, cwd=str(tmp_path))
    assert r.returncode != 0
    assert "make build" in r.stderr and "VNCENV_DECODER=python" in r.stderr
    # and the reference backend still works from that checkout
    env["VNCENV_DECODER"] = "python"
    r = run_python("import vncenv; print(vncenv.DECODER_BACKEND)", env=env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "python"


def test_cli_help():
    for args in (["--help"], ["capture", "--help"]):
        r = subprocess.run([sys.executable, "-m", "vncenv.cli", *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "usage:" in r.stdout
    r = subprocess.run([sys.executable, "-m", "vncenv.cli", "capture"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "address" in r.stderr
