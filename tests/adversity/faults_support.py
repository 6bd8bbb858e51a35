"""Helpers for the adversity tests: real faults against real remotes.

Nothing here fakes a fault: processes get SIGKILL by pid, sockets are
destroyed in the kernel (``ss -K``), links are cut between network
namespaces, and the dockerd this test session started is stopped by its pid.

``remote_processes(env)``
    ``{pid: comm}`` of a local remote's process tree (``vncenv serve`` and
    its Xvnc) behind a :class:`~vncenv.envs.vnc_env.VNCEnv`.
``kill_xvnc(env)``, ``kill_runtime(env)``, ``kill_rewarder_connection(env)``
    The three faults of a local remote; each returns what it killed.
``Netns``
    A network namespace joined to this one by a veth pair, with ``cut()``
    (a silent black hole both ways) and ``heal()``.
``NetnsServer``
    ``vncenv serve gym-core`` (its ``serve()``) run inside a ``Netns``,
    listening on the namespace's address.
``wait_gone(pids)``
    Bounded wait until no process of ``pids`` is alive (zombies count as gone).
``own_dockerd``
    A session fixture (import it with ``docker_client``): a :class:`DockerdControl`
    for the dockerd ``docker_support`` started, to stop and start it by pid.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from procs import alive, descendants

__all__ = [
    "remote_processes",
    "serve_pid",
    "kill_xvnc",
    "kill_runtime",
    "kill_rewarder_connection",
    "wait_gone",
    "Netns",
    "NetnsServer",
    "DockerdControl",
    "own_dockerd",
]


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def serve_pid(env: Any) -> int:
    """The pid of the ``vncenv serve`` process behind a VNCEnv's local remote."""
    manager = env.unwrapped._manager
    (process,) = manager._processes
    return process.popen.pid


def remote_processes(env: Any) -> dict[int, str]:
    """``{pid: comm}`` of the remote's process tree (serve and its Xvnc)."""
    return {pid: _comm(pid) for pid in descendants(serve_pid(env), include_self=True) if alive(pid)}


def _xvnc_of(env: Any, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        found = [pid for pid, comm in remote_processes(env).items() if comm == "Xvnc"]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no Xvnc below {serve_pid(env)}: {remote_processes(env)}"
        time.sleep(0.05)


def kill_xvnc(env: Any) -> dict[str, Any]:
    """SIGKILL the remote's Xvnc (the runtime process stays)."""
    pid = _xvnc_of(env)
    os.kill(pid, signal.SIGKILL)
    return {"pid": pid, "what": "Xvnc"}


def kill_runtime(env: Any) -> dict[str, Any]:
    """SIGKILL the ``vncenv serve gym-core`` process alone (not its group).

    It holds the game loop and the rewarder (a thread); its Xvnc dies by its
    parent-death signal."""
    pid = serve_pid(env)
    os.kill(pid, signal.SIGKILL)
    return {"pid": pid, "what": "runtime"}


def kill_rewarder_connection(env: Any) -> dict[str, Any]:
    """Destroy the rewarder's established TCP sockets in the kernel (``ss -K``).

    The peer gets a reset, as when the process on the other end dies; the
    listening socket is left alone, so the client can reconnect at once.
    """
    port = env.unwrapped._remote.rewarder_port
    r = subprocess.run(["ss", "-K", "-t", "-n", "-H", "state", "established", f"( sport = :{port} )"],
                       capture_output=True, text=True, timeout=10)  # fmt: skip
    assert r.returncode == 0, f"ss -K failed ({r.returncode}): {r.stderr}"
    killed = [line for line in r.stdout.splitlines() if line.strip()]
    assert killed, f"no established rewarder connection on port {port} to destroy"
    return {"port": port, "what": "rewarder connection", "sockets": killed}


def wait_gone(pids: set[int] | list[int], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while left := [p for p in pids if alive(p)]:
        assert time.monotonic() < deadline, f"still running after {timeout} s: {[(p, _comm(p)) for p in left]}"
        time.sleep(0.1)


# -- network namespaces -------------------------------------------------------------


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def _free_subnet() -> int:
    """X such that 10.200.X.0/24 is not on any interface or route here."""
    used = _run("ip", "-o", "-4", "addr").stdout + _run("ip", "-o", "-4", "route").stdout
    for _ in range(100):
        x = random.randint(1, 254)
        if f"10.200.{x}." not in used:
            return x
    raise RuntimeError("no free 10.200.X.0/24 subnet")


class Netns:
    """A network namespace and a veth pair to it: ``host_ip`` here, ``ns_ip`` there.

    ``cut()`` makes the link a silent black hole in both directions: a
    ``pfifo`` queue of length 0 on each end drops every packet, so sends
    still succeed, nothing arrives, no reset or ICMP error comes back, and
    new connections hang (``ip link set down`` would give "no route" errors,
    and netem is not in every kernel).  ``heal()`` removes both queues:
    connections that are still open carry on.
    """

    def __init__(self) -> None:
        tag = f"{os.getpid() & 0xFFFF:04x}{secrets.token_hex(2)}"
        self.name = f"vncenv-t{tag}"
        self.host_if, self.ns_if = f"vh{tag}", f"vn{tag}"
        x = _free_subnet()
        self.host_ip, self.ns_ip = f"10.200.{x}.1", f"10.200.{x}.2"
        self.is_cut = False

    def ns(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return _run("ip", "netns", "exec", self.name, *args, check=check)

    def __enter__(self) -> Netns:
        _run("ip", "netns", "add", self.name)
        try:
            _run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            _run("ip", "link", "set", self.ns_if, "netns", self.name)
            _run("ip", "addr", "add", f"{self.host_ip}/24", "dev", self.host_if)
            _run("ip", "link", "set", self.host_if, "up")
            self.ns("ip", "addr", "add", f"{self.ns_ip}/24", "dev", self.ns_if)
            self.ns("ip", "link", "set", self.ns_if, "up")
            self.ns("ip", "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def cut(self) -> None:
        _run("tc", "qdisc", "add", "dev", self.host_if, "root", "pfifo", "limit", "0")
        self.ns("tc", "qdisc", "add", "dev", self.ns_if, "root", "pfifo", "limit", "0")
        self.is_cut = True

    def heal(self) -> None:
        _run("tc", "qdisc", "del", "dev", self.host_if, "root", check=False)
        self.ns("tc", "qdisc", "del", "dev", self.ns_if, "root", check=False)
        self.is_cut = False

    def drop_connections(self, port: int) -> list[str]:
        """During a cut, destroy this side's established connections to ``ns_ip:port`` (``ss -K``).

        Our end aborts at once (as when a client's own keepalive gives up on
        a connection and lets it go); the reset it sends is lost in the black
        hole, so the server keeps its end open as if the client were still
        there, until it sends something itself (its keepalive ping) and the
        reset that answers it arrives.  (A connection our side merely closed
        would linger, retransmitting its last data, and close the server's end
        cleanly soon after the cut heals; ``ss -K`` cannot destroy those.)
        """
        assert self.is_cut, "only during a cut: otherwise the server gets the resets"
        r = _run("ss", "-K", "-t", "-n", "-H", "state", "established", f"( dst {self.ns_ip} and dport = :{port} )")
        return [line for line in r.stdout.splitlines() if line.strip()]

    def pids(self) -> list[int]:
        r = _run("ip", "netns", "pids", self.name, check=False)
        return [int(p) for p in r.stdout.split()]

    def close(self) -> None:
        """Delete the namespace (which deletes the veth pair); wait until the host end is gone."""
        _run("ip", "netns", "del", self.name, check=False)
        deadline = time.monotonic() + 10
        while _run("ip", "link", "show", self.host_if, check=False).returncode == 0:
            if time.monotonic() > deadline:
                _run("ip", "link", "del", self.host_if, check=False)
                break
            time.sleep(0.1)


class NetnsServer:
    """``serve()`` of ``vncenv serve gym-core`` inside ``netns``, on its address.

    Started through ``serve()`` itself (what ``vncenv serve gym-core --host``
    runs) with ``host=netns.ns_ip``, so the test can raise the rewarder
    server's log level first.
    VNC on 5900 and the rewarder on 15900 (the namespace has its own ports).
    """

    VNC_PORT, REWARDER_PORT = 5900, 15900

    def __init__(self, netns: Netns, env_id: str = "ALE/Pong-v5", mode: str = "sync", log_dir: str | None = None):
        self.netns, self.env_id, self.mode = netns, env_id, mode
        self.host = netns.ns_ip
        self.password = secrets.token_urlsafe(6)[:8]
        self.log_path = os.path.join(log_dir or "/tmp", f"{netns.name}-serve.log")
        self.process: subprocess.Popen | None = None
        self.seen: set[int] = set()

    @property
    def spec(self) -> str:
        return f"vnc://{self.host}:{self.VNC_PORT}+{self.REWARDER_PORT}?password={self.password}"

    def start(self, timeout: float = 60.0) -> NetnsServer:
        from vncenv.remotes.probe import wait_ready

        code = (
            "import logging, os, sys\n"
            "logging.basicConfig(format='%(asctime)s %(name)s: %(message)s')\n"
            "logging.getLogger('vncenv.rewarder.server').setLevel(logging.INFO)  # who connects, who is refused\n"
            "from vncenv.runtimes.gym_core.serve import serve\n"
            "sys.exit(serve(sys.argv[1], vnc_port=int(sys.argv[2]), rewarder_port=int(sys.argv[3]),\n"
            "               password=os.environ.pop('VNCENV_TEST_PASSWORD'), mode=sys.argv[4], scale=1,\n"
            "               host=sys.argv[5], parent_pid=int(sys.argv[6])))\n"
        )
        args = ["ip", "netns", "exec", self.netns.name, sys.executable, "-c", code, self.env_id,
                str(self.VNC_PORT), str(self.REWARDER_PORT), self.mode, self.host, str(os.getpid())]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True,
                                            env=dict(os.environ, VNCENV_TEST_PASSWORD=self.password))  # fmt: skip
        try:
            wait_ready(self.host, self.VNC_PORT, self.REWARDER_PORT, self.password, timeout,
                       alive=lambda: self.process.poll() is None, what=f"serve in {self.netns.name}")  # fmt: skip
        except BaseException:
            self.stop()
            raise RuntimeError(f"the server in {self.netns.name} did not start:\n{self.log_tail()}") from None
        self.seen = self.tree()
        return self

    def tree(self) -> set[int]:
        assert self.process is not None
        return {p for p in descendants(self.process.pid, include_self=True) if alive(p)}

    def refusals(self) -> int:
        """How many active clients the rewarder refused ("another client is active") so far."""
        try:
            return Path(self.log_path).read_text(errors="replace").count(": another client is active")
        except OSError:
            return 0

    def log_tail(self, nbytes: int = 3000) -> str:
        try:
            return Path(self.log_path).read_bytes()[-nbytes:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM its process group (SIGKILL after 10 s), by pid; wait for the whole tree."""
        process, self.process = self.process, None
        if process is None:
            return
        pids = self.seen | {p for p in descendants(process.pid, include_self=True) if alive(p)}
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                pass
            try:
                process.wait(grace)
                break
            except subprocess.TimeoutExpired:
                continue
        for pid in pids - {process.pid}:  # Xvnc runs in its own session: by pid, if it outlived serve
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        wait_gone(pids, 20)


# -- the dockerd of this test session ---------------------------------------------


class DockerdControl:
    """Stop and start the dockerd that ``docker_support`` started for this session, by pid.

    :meth:`start` starts the next one the way ``docker_support`` did (its
    :class:`~docker_support.Dockerd`), on the same socket and data root, so
    images and stopped containers are still there.
    """

    def __init__(self, pid: int, host: str) -> None:
        self.pid: int | None = pid
        self.host = host
        self.started: Any = None  # the docker_support.Dockerd this object started, if any
        self.restarts = 0
        self._leftover_dirs: list[str] = []  # folders of the dockerds stopped here (their pidfile, log)

    def stop(self, timeout: float = 60.0) -> float:
        """SIGTERM dockerd (it stops its containers and its containerd); wait for its whole tree."""
        assert self.pid is not None and alive(self.pid), "no dockerd of ours is running"
        t0 = time.monotonic()
        tree = descendants(self.pid, include_self=True)
        args = Path(f"/proc/{self.pid}/cmdline").read_bytes().split(b"\0")
        if b"--pidfile" in args:  # docker_support's folder: it will not remove it, its dockerd having exited
            folder = os.path.dirname(args[args.index(b"--pidfile") + 1].decode())
            if os.path.basename(folder).startswith("vncenv-dockerd-"):
                self._leftover_dirs.append(folder)
        os.kill(self.pid, signal.SIGTERM)
        try:
            wait_gone(tree, timeout)
        except AssertionError:
            for pid in tree:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
            wait_gone(tree, 10)
            raise
        finally:
            self.pid = None
        return time.monotonic() - t0

    def start(self, timeout: float = 90.0) -> float:
        from docker_support import Dockerd

        t0 = time.monotonic()
        previous, self.started = self.started, Dockerd()
        if previous is not None and previous.process is not None:  # stopped by stop(): reap it
            previous.process.poll()
        client = self.started.start(self.host, timeout=timeout)
        client.close()
        self.pid = self.started.process.pid
        self.restarts += 1
        return time.monotonic() - t0

    def close(self) -> None:
        """Stop the dockerd started here (if it runs) and remove the folders of those stopped."""
        if self.started is not None:
            self.started.stop()
            self.started = None
        for folder in self._leftover_dirs:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def own_dockerd(docker_client):
    """The dockerd docker_support started for this session, to restart (see :class:`DockerdControl`).

    A Docker engine this session did not start (a system dockerd, another
    session's) is never touched: the test fails and says so.  The one this
    fixture started last is stopped at the end of the session.
    """
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    ours = [p for p in descendants(os.getpid()) if _comm(p) == "dockerd" and alive(p)]
    if not host.startswith("unix://") or len(ours) != 1:
        others = [p for p in map(int, filter(str.isdigit, os.listdir("/proc"))) if _comm(p) == "dockerd"]
        pytest.fail(f"this test restarts the dockerd the test session started (docker_support), but the engine at "
                    f"{host} was not started by it (dockerd pids here: {others or 'none'}): it will not restart "
                    "someone else's engine; stop that dockerd so that the session starts its own")  # fmt: skip
    control = DockerdControl(ours[0], host)
    try:
        yield control
    finally:
        control.close()
