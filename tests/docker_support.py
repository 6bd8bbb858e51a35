"""Docker for the tests: a running engine and the runtime image, set up for real.

Session fixtures (import them into a test module: ``from docker_support import
docker_client, docker_image``):

``docker_client``
    A ``docker.DockerClient`` on the engine of ``$DOCKER_HOST`` (default: the
    local socket).  If no engine answers on the local socket, Debian's
    ``docker.io`` is installed when missing and ``dockerd`` is started here
    (``--storage-driver vfs`` unless ``$VNCENV_TEST_DOCKER_STORAGE_DRIVER``
    says otherwise, data under /var/lib/docker, its own pidfile and log); the
    session stops that dockerd (by its pid) at the end.  A dockerd that was
    already running is left alone.  ``$VNCENV_TEST_DOCKER_DATA_ROOT`` and
    ``$VNCENV_TEST_DOCKERD_ARGS`` (extra arguments, split on spaces) change
    how it starts, e.g. to try the start-up next to another engine (another
    ``--exec-root``, ``--bridge``, ``--iptables=false``).
``docker_image``
    The tag of the runtime image, built by ``docker/build.py`` (the base image
    by debootstrap + ``docker import`` when it is missing, which needs
    ``debootstrap``, installed here when missing).  Both are cached on the
    engine, so later sessions only check the inputs' hash (about a second).

Nothing here skips: when Docker cannot be set up, the fixtures fail and say why.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOCKET = "unix:///var/run/docker.sock"


def _log(message: str) -> None:
    sys.stderr.write(f"[docker_support] {message}\n")
    sys.stderr.flush()


def _apt_install(*packages: str) -> None:
    missing = [p for p in packages if subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True,
                                                     text=True).stdout.find("install ok installed") < 0]  # fmt: skip
    if not missing:
        return
    if os.geteuid() != 0:
        pytest.fail(f"Docker tests need {' '.join(missing)}: apt-get install {' '.join(missing)} (as root)")
    _log(f"installing {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for args in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
        r = subprocess.run(args, capture_output=True, text=True, env=env)
        if r.returncode != 0:
            pytest.fail(f"{' '.join(args)} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")


class Dockerd:
    """A dockerd started for the tests, stopped by pid."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="vncenv-dockerd-")
        self.log_path = os.path.join(self.dir, "dockerd.log")
        self.pidfile = os.path.join(self.dir, "dockerd.pid")
        self.process: subprocess.Popen | None = None

    def start(self, socket: str, timeout: float = 90.0):
        from vncenv.error import Error
        from vncenv.remotes.docker import connect

        driver = os.environ.get("VNCENV_TEST_DOCKER_STORAGE_DRIVER", "vfs")
        data_root = os.environ.get("VNCENV_TEST_DOCKER_DATA_ROOT", "/var/lib/docker")
        args = ["dockerd", "--storage-driver", driver, "--data-root", data_root,
                "--pidfile", self.pidfile, "--host", socket,
                *os.environ.get("VNCENV_TEST_DOCKERD_ARGS", "").split()]  # fmt: skip
        _log(f"no Docker engine answers: starting {' '.join(args)} (log {self.log_path})")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"dockerd exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                return connect(socket, timeout=30)
            except Error:
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"dockerd did not answer on {socket} within {timeout} s:\n{self.log_tail()}")
                time.sleep(0.25)

    def log_tail(self, nbytes: int = 3000) -> str:
        try:
            return Path(self.log_path).read_bytes()[-nbytes:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, grace: float = 30.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        _log(f"stopping the dockerd started for the tests (pid {process.pid})")
        process.send_signal(signal.SIGTERM)  # it stops its containers and its own containerd
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def _sdk_or_fail():
    try:
        from vncenv.remotes.docker import _sdk

        return _sdk()
    except Exception as exc:
        pytest.fail(f"{exc} (pip install -e '.[test]' installs it)")


@pytest.fixture(scope="session")
def docker_client():
    """A docker client on a running engine; starts (and later stops) dockerd if needed."""
    from vncenv.error import Error
    from vncenv.remotes.docker import connect

    _sdk_or_fail()
    host = os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET
    started = None
    try:
        client = connect(host, timeout=30)
    except Error as exc:
        if not host.startswith("unix://"):
            pytest.fail(f"DOCKER_HOST={host} does not answer and is not a local socket to start dockerd on: {exc}")
        if shutil.which("dockerd") is None:
            _apt_install("docker.io")
        if os.geteuid() != 0:
            pytest.fail(f"no Docker engine answers on {host} and starting dockerd needs root: {exc}")
        started = Dockerd()
        client = started.start(host)
    try:
        yield client
    finally:
        client.close()
        if started is not None:
            started.stop()


def _load_build_script():
    spec = importlib.util.spec_from_file_location("vncenv_docker_build", ROOT / "docker" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def docker_image(docker_client):
    """The runtime image's tag, built (or found up to date) by docker/build.py."""
    build = _load_build_script()
    base = build.base_tag()
    docker = _sdk_or_fail()
    try:
        docker_client.images.get(base)
    except docker.errors.ImageNotFound:
        if shutil.which("debootstrap") is None:
            _apt_install("debootstrap")
    t0 = time.monotonic()
    try:
        tag = build.build(docker_host=os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET)
    except Exception as exc:
        pytest.fail(f"building the runtime image failed: {exc}")
    _log(f"image {tag} ready after {time.monotonic() - t0:.1f} s")
    return tag
