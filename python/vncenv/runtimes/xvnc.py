"""Run TigerVNC's Xvnc: an X display with a VNC server built in.

:class:`Xvnc` picks a free display number and TCP port, starts the server
(loopback only, VNC auth by default), waits until it really answers (the RFB
banner on its port and the X socket on disk), and stops it by pid on
:meth:`Xvnc.stop`, at interpreter exit, and when the parent process dies.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

from ..error import Error, Timeout, UsageError

__all__ = ["Xvnc", "free_tcp_port", "free_display", "resize_display"]

_PR_SET_PDEATHSIG = 1
_live: weakref.WeakSet[Xvnc] = weakref.WeakSet()


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (the kernel's pick)."""
    return free_tcp_ports(1, host)[0]


def free_tcp_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` different TCP ports nobody listens on now.

    The sockets stay bound until all are picked: the kernel may hand out a
    port again as soon as its socket closes, so two calls to
    :func:`free_tcp_port` can return the same port.
    """
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_display(start: int = 20, stop: int = 1000) -> int:
    """An X display number with no socket and no lock file."""
    for n in range(start, stop):
        if not os.path.exists(f"/tmp/.X11-unix/X{n}") and not os.path.exists(f"/tmp/.X{n}-lock"):
            return n
    raise Error(f"no free X display in :{start}..:{stop - 1}")


def resize_display(display: str, width: int, height: int, timeout: float = 10.0) -> None:
    """Resize an Xvnc screen with xrandr; its VNC clients get a DesktopSize.

    ``xrandr --fb`` alone cannot shrink below the output's mode and ``-s``
    takes listed modes only, so a mode of exactly this size is added to the
    output and the screen and output switch to it together.
    """
    env = dict(os.environ, DISPLAY=display)

    def xrandr(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run(["xrandr", *args], env=env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise Error(f"xrandr {' '.join(args)} on {display} failed: {r.stderr.strip()}")
        return r

    query = xrandr("-q").stdout
    output = next((line.split()[0] for line in query.splitlines() if " connected" in line), None)
    if output is None:
        raise Error(f"no connected RandR output on {display}")
    mode = f"vncenv-{width}x{height}"
    if f"   {mode} " not in query and not any(line.split()[:1] == [mode] for line in query.splitlines()):
        r = xrandr("--newmode", mode, f"{width * height * 60 / 1e6:.3f}", *[str(width)] * 4, *[str(height)] * 4,
                   check=False)  # fmt: skip
        if r.returncode != 0 and "BadName" not in r.stderr:
            raise Error(f"xrandr --newmode on {display} failed: {r.stderr.strip()}")
        xrandr("--addmode", output, mode)
    xrandr("--fb", f"{width}x{height}", "--output", output, "--mode", mode)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except Exception:
        pass


def _vnc_password_file(password: str, directory: str) -> str:
    """Write a TigerVNC password file with ``vncpasswd -f`` (never logged)."""
    tool = shutil.which("vncpasswd") or shutil.which("tigervncpasswd")
    if tool is None:
        raise Error("vncpasswd is missing: apt-get install tigervnc-tools")
    path = os.path.join(directory, "passwd")
    result = subprocess.run([tool, "-f"], input=password.encode() + b"\n", capture_output=True, check=True)
    with open(path, "wb") as f:
        f.write(result.stdout)
    os.chmod(path, 0o600)
    return path


class Xvnc:
    """One TigerVNC Xvnc server.

    :param width: screen width.
    :param height: screen height.
    :param password: VNC password; ``None`` makes a random one (see
        :attr:`password`); ``""`` turns authentication off.
    :param frame_rate: most updates per second Xvnc sends a client.
    :param host: the address to listen on (loopback by default: ``-localhost``;
        another address binds only that one; ``"0.0.0.0"`` every interface).
        X11 never listens on TCP (``-nolisten tcp``), only on its local socket.
    :param display: X display number, or None for a free one.
    :param port: VNC port, or None for a free one.
    """

    def __init__(
        self,
        width: int = 1024,
        height: int = 768,
        *,
        password: str | None = None,
        frame_rate: int = 60,
        host: str = "127.0.0.1",
        display: int | None = None,
        port: int | None = None,
    ) -> None:
        if not (16 <= width <= 16384 and 16 <= height <= 16384):
            raise UsageError(f"screen size {width}x{height} outside 16..16384")
        self.width, self.height = width, height
        self.password = secrets.token_urlsafe(6)[:8] if password is None else password
        self.frame_rate = frame_rate
        self.host = host
        self._want_display, self._want_port = display, port
        self.display_number: int | None = None
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._dir = tempfile.mkdtemp(prefix="vncenv-xvnc-")
        self.log_path = os.path.join(self._dir, "Xvnc.log")

    @property
    def display(self) -> str:
        """The X display name, ``":N"``."""
        return f":{self.display_number}"

    @property
    def address(self) -> str:
        return f"vnc://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> Xvnc:
        """Start the server and wait until it answers; retry on a port or display race."""
        if shutil.which("Xvnc") is None:
            raise Error("Xvnc is missing: apt-get install tigervnc-standalone-server")
        deadline = time.monotonic() + timeout
        for _ in range(5):
            display = self._want_display if self._want_display is not None else free_display()
            port = self._want_port if self._want_port is not None else free_tcp_port(self.host)
            if self._launch(display, port, deadline):
                _live.add(self)
                return self
            if self._want_display is not None and self._want_port is not None:
                break
        raise Error(f"Xvnc did not start; log {self.log_path}:\n{self.log_tail()}")

    def _launch(self, display: int, port: int, deadline: float) -> bool:
        security = ["-SecurityTypes", "None"]
        if self.password:
            security = ["-SecurityTypes", "VncAuth", "-PasswordFile", _vnc_password_file(self.password, self._dir)]
        args = [
            "Xvnc", f":{display}", "-rfbport", str(port), "-geometry", f"{self.width}x{self.height}",
            "-depth", "24", "-FrameRate", str(self.frame_rate), "-AlwaysShared", "-noreset",
            "-nolisten", "tcp", *security,
        ]  # fmt: skip
        if self.host in ("127.0.0.1", "localhost", "::1"):
            args.append("-localhost")  # loopback only (IPv4 and IPv6)
        elif self.host not in ("", "0.0.0.0", "::"):
            args += ["-interface", self.host]  # that address only, not every interface
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent, start_new_session=True,
            )  # fmt: skip
        finally:
            log.close()
        self.display_number, self.port = display, port
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False  # lost a race for the display or port: try others
            if os.path.exists(f"/tmp/.X11-unix/X{display}") and self._banner():
                return True
            time.sleep(0.02)
        self.stop()
        raise Timeout(f"Xvnc on {self.display} did not answer on port {port} in time:\n{self.log_tail()}")

    def _banner(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as s:
                s.settimeout(1)
                return s.recv(12).startswith(b"RFB ")
        except OSError:
            return False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, nbytes: int = 3000) -> str:
        try:
            data = Path(self.log_path).read_bytes()[-nbytes:]
        except OSError:
            return ""
        return data.decode("utf-8", "replace")

    def env(self) -> dict[str, str]:
        """The environment for X programs on this display."""
        return dict(os.environ, DISPLAY=self.display)

    def stop(self, grace: float = 5.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL), by pid; idempotent."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Xvnc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Xvnc {self.display} port={self.port} {'running' if self.alive() else 'stopped'}>"


@atexit.register
def _stop_all() -> None:
    for server in list(_live):
        server.stop(grace=2)
