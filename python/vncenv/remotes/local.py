"""Local remotes: ``vncenv serve`` processes on this machine.

Each remote is one ``vncenv serve gym-core`` process (which starts Xvnc and
the runtime with its rewarder) on free ports.  The process runs in its own
process group, so :meth:`LocalManager.close` can stop it and everything it
started with one signal; it dies with this process too (a parent-death
signal, and the server's own watch on its parent's pid, which also covers
parents that were killed with SIGKILL).  Logs go to one file per remote.

Security defaults: every port listens on 127.0.0.1 only (Xvnc with
``-localhost -nolisten tcp``, the rewarder on loopback), both ask for a
password (a random one per remote unless given), and the password reaches
the server through its environment (``VNCENV_PASSWORD``, readable by this
user only), never its command line, which every user can read in
``/proc/PID/cmdline``.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass

from ..error import Error, UsageError
from ..runtimes.xvnc import free_tcp_ports
from .base import Remote, StartedRemotes
from .probe import wait_ready

__all__ = ["LocalManager"]

_PR_SET_PDEATHSIG = 1
_managers: weakref.WeakSet[LocalManager] = weakref.WeakSet()


def _child_setup() -> None:  # between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except Exception:
        pass


@dataclass
class _Process:
    remote: Remote
    popen: subprocess.Popen
    log_path: str
    ready: bool = False

    def alive(self) -> bool:
        return self.popen.poll() is None


class LocalManager(StartedRemotes):
    """Run remotes as local processes.

    :param env_id: the Gymnasium id every remote serves.
    :param runtime: the runtime to serve (``"gym-core"``).
    :param fps: frames per second (realtime mode).
    :param mode: ``"realtime"`` or ``"sync"``.
    :param scale: upscaling of the env's frames on screen.
    :param password: the remotes' password; None makes a random one each.
    :param log_dir: where each remote's log goes (a temp folder by default).
    :param start_timeout: seconds a remote may take to become ready.
    """

    def __init__(
        self,
        env_id: str,
        *,
        runtime: str = "gym-core",
        fps: float = 60.0,
        mode: str = "realtime",
        scale: int = 2,
        password: str | None = None,
        log_dir: str | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        if runtime != "gym-core":
            raise UsageError(f"unknown runtime {runtime!r}; the local manager serves 'gym-core'")
        self.env_id, self.runtime, self.fps, self.mode, self.scale = env_id, runtime, fps, mode, scale
        self.password = password
        self.log_dir = log_dir or tempfile.mkdtemp(prefix="vncenv-remotes-")
        self.start_timeout = start_timeout
        self._processes: list[_Process] = []
        self._lock = threading.Lock()
        self._counter = 0
        self._closed = False
        _managers.add(self)

    # -- allocation -------------------------------------------------------------

    def allocate(self, n: int) -> None:
        if self._closed:
            raise UsageError("the manager is closed")
        if n < 0:
            raise UsageError(f"cannot allocate {n} remotes")
        for _ in range(n):
            process = self._spawn()
            with self._lock:
                self._processes.append(process)

    def _spawn(self) -> _Process:
        with self._lock:
            self._counter += 1
            name = f"local-{os.getpid()}-{self._counter}"
        password = self.password if self.password is not None else secrets.token_urlsafe(6)[:8]
        vnc_port, rewarder_port = free_tcp_ports(2)
        args = [
            sys.executable, "-m", "vncenv.cli", "serve", "gym-core", "--env", self.env_id,
            "--vnc-port", str(vnc_port), "--rewarder-port", str(rewarder_port),
            "--fps", str(self.fps), "--mode", self.mode, "--scale", str(self.scale),
            "--parent-pid", str(os.getpid()),
        ]  # fmt: skip
        log_path = os.path.join(self.log_dir, f"{name}.log")
        env = dict(os.environ, VNCENV_PASSWORD=password)  # not on the command line: see the module docstring
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                args, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=_child_setup if threading.current_thread() is threading.main_thread() else None,
            )  # fmt: skip
        remote = Remote(name, "127.0.0.1", vnc_port, rewarder_port, password, self.env_id)
        return _Process(remote, popen, log_path)

    def _started(self) -> list[_Process]:
        with self._lock:
            return list(self._processes)

    def _wait(self, p: _Process, timeout: float) -> None:
        r = p.remote
        try:
            wait_ready(r.host, r.vnc_port, r.rewarder_port, r.password, timeout, alive=p.alive, what=r.name)
        except Error as exc:
            raise type(exc)(f"{exc}; log {p.log_path}:\n{_tail(p.log_path)}") from exc
        p.ready = True

    # -- health -----------------------------------------------------------------

    def health(self) -> dict[str, bool]:
        with self._lock:
            return {p.remote.name: p.alive() for p in self._processes}

    def replace(self, remote: Remote, timeout: float | None = None) -> Remote:
        with self._lock:
            index = next((i for i, p in enumerate(self._processes) if p.remote.name == remote.name), None)
        if index is None:
            raise UsageError(f"{remote.name} is not one of this manager's remotes")
        _stop(self._processes[index])
        fresh = self._spawn()
        with self._lock:
            self._processes[index] = fresh
        self._wait(fresh, self.start_timeout if timeout is None else timeout)
        return fresh.remote

    def log_path(self, remote: Remote) -> str:
        with self._lock:
            return next(p.log_path for p in self._processes if p.remote.name == remote.name)

    # -- teardown ---------------------------------------------------------------

    def close(self) -> None:
        """Stop every remote (its whole process group); idempotent."""
        self._closed = True
        with self._lock:
            processes, self._processes = self._processes, []
        for p in processes:
            _signal_group(p, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for p in processes:
            try:
                p.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(p, signal.SIGKILL)  # whatever is left of the group
            if p.popen.poll() is None:
                p.popen.wait()

    def __repr__(self) -> str:
        return f"<LocalManager {self.env_id} remotes={len(self._processes)}>"


def _signal_group(p: _Process, sig: int) -> None:
    try:
        os.killpg(p.popen.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stop(p: _Process) -> None:
    _signal_group(p, signal.SIGTERM)
    try:
        p.popen.wait(10)
    except subprocess.TimeoutExpired:
        pass
    _signal_group(p, signal.SIGKILL)
    if p.popen.poll() is None:
        p.popen.wait()


def _tail(path: str, nbytes: int = 2000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - nbytes))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


@atexit.register
def _close_all() -> None:
    for manager in list(_managers):
        manager.close()
