"""Real VNC servers, X displays and deterministic scenes for the tests.

Nothing here is a mock: every server is a real process on this machine.

* :func:`free_display` / :func:`free_port` pick an X display number and a TCP
  port that are free, and *reserve* them for this process with an ``flock`` on
  a file under ``$TMPDIR/vncenv-test-locks`` (so many test processes on one
  machine, e.g. ``pytest -n 8``, never pick the same ones).  They also skip
  displays with ``/tmp/.X11-unix/X<n>``, ``/tmp/.X<n>-lock`` or an abstract
  ``@/tmp/.X11-unix/X<n>`` socket, and ports that fail a bind test.  Foreign
  processes can still race us between the check and the server's bind, so
  readiness also checks (in /proc) that *our* pid owns the X socket and the
  listening port, and startup retries with new numbers when the log says the
  display or the port was taken.
* :class:`XvncServer` -- TigerVNC's ``Xvnc`` (an X server with a built-in VNC
  server).
* :class:`X11vncServer` -- ``Xvfb`` plus ``x11vnc`` polling it.
* :class:`Scene` -- draws deterministic content (a seeded photo-like image,
  solid blocks, core-font text, block motion) on a display with python-xlib and
  keeps :attr:`Scene.expected`, the RGB image the screen must show.
* :func:`grab_screen` -- the X server's own pixels (``GetImage``) as an
  ``(H, W, 3)`` uint8 RGB array.
* :func:`resize` -- change an Xvnc display's size with ``xrandr``.
* :class:`RawRFBClient` -- a tiny, independent RFB client (Raw and CopyRect
  only) used to check the servers themselves and as an oracle in tests.  It is
  deliberately separate from vncenv's own client.

Readiness is a real probe: the X display accepts a connection *and* the RFB
port answers with its ``RFB 003.00x`` banner (both owned by our processes).  On a timeout or an early exit
the error carries the tail of the server's log (every process logs to a temp
file, :attr:`log_path`).  Servers are stopped by pid (``SIGTERM``, then
``SIGKILL`` after a grace period), never by name; :meth:`stop` is idempotent and
also runs at interpreter exit.  Processes started from the main thread also get
``PR_SET_PDEATHSIG`` so they die with the test process even on ``kill -9``.

x11vnc options (see :data:`X11VNC_RELIABLE_ARGS` for the reasoning) are chosen
so that a change on the X display reaches a client promptly and exactly.

python-xlib 0.33 cannot open displays of two different X servers (Xvnc and
Xvfb) in one process; :func:`_patch_xlib_event_classes` works around it.
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import fcntl
import ipaddress
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from typing import Callable, Iterable, Sequence

import numpy as np

__all__ = [
    "ServerStartError",
    "free_display",
    "free_port",
    "probe_rfb_banner",
    "wait_for_display",
    "XvncServer",
    "X11vncServer",
    "Scene",
    "grab_screen",
    "resize",
    "root_geometry",
    "RawRFBClient",
    "X11VNC_RELIABLE_ARGS",
    "have_xvnc",
    "have_x11vnc",
]

# --------------------------------------------------------------------------
# Free display numbers and ports, reserved across processes.
# --------------------------------------------------------------------------

LOCK_DIR = os.path.join(tempfile.gettempdir(), "vncenv-test-locks")
DISPLAY_RANGE = (100, 3000)  # X displays; well away from :0..:99 used by humans
PORT_RANGE = (20000, 32000)  # below Linux's default ephemeral range 32768-60999


class ServerStartError(RuntimeError):
    """A server did not become ready; the message includes its log tail."""


class _Reservation:
    """An exclusive, non-blocking flock on ``LOCK_DIR/<kind>-<n>.lock``.

    The lock goes away when the fd is closed, also when the process dies.  On
    :meth:`release` the file is unlinked while still locked; a process that
    locked the file just before that sees (by comparing inodes) that its lock
    is on a stale file and does not count it as a reservation.
    """

    def __init__(self, kind: str, number: int) -> None:
        os.makedirs(LOCK_DIR, mode=0o1777, exist_ok=True)
        self.kind = kind
        self.number = number
        self.path = os.path.join(LOCK_DIR, f"{kind}-{number}.lock")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_ino != os.stat(self.path).st_ino:
                raise BlockingIOError(errno.EWOULDBLOCK, "stale lock file")
        except OSError as exc:
            os.close(fd)
            if isinstance(exc, FileNotFoundError):  # unlinked by its releaser
                raise BlockingIOError(errno.EWOULDBLOCK, "stale lock file") from exc
            raise
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None


def _try_reserve(kind: str, number: int) -> _Reservation | None:
    try:
        return _Reservation(kind, number)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise


def _abstract_x_sockets() -> set[int]:
    """Display numbers with a Linux abstract socket ``@/tmp/.X11-unix/X<n>``."""
    found: set[int] = set()
    try:
        with open("/proc/net/unix") as f:
            for line in f:
                m = re.search(r"@/tmp/\.X11-unix/X(\d+)\s*$", line)
                if m:
                    found.add(int(m.group(1)))
    except OSError:
        pass
    return found


def display_in_use(n: int, _abstract: set[int] | None = None) -> bool:
    """True if an X server seems to own display ``:n``."""
    if os.path.exists(f"/tmp/.X11-unix/X{n}") or os.path.exists(f"/tmp/.X{n}-lock"):
        return True
    abstract = _abstract_x_sockets() if _abstract is None else _abstract
    return n in abstract


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Bind-test ``port`` (with SO_REUSEADDR, as the servers bind)."""
    families = [(socket.AF_INET, host)]
    if socket.has_ipv6 and host in ("127.0.0.1", "localhost"):
        families.append((socket.AF_INET6, "::1"))
    for family, addr in families:
        try:
            s = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            continue  # no IPv6 on this machine
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:  # ::1 not configured
                continue
            return False
        finally:
            s.close()
    return True


def free_display(tries: int = 500) -> tuple[int, _Reservation]:
    """Pick a free X display number and reserve it; returns ``(n, reservation)``."""
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    abstract = _abstract_x_sockets()
    for _ in range(tries):
        n = rng.randrange(*DISPLAY_RANGE)
        if display_in_use(n, abstract):
            continue
        res = _try_reserve("display", n)
        if res is None:
            continue
        if display_in_use(n):  # re-check after taking the lock
            res.release()
            continue
        return n, res
    raise ServerStartError(f"no free X display number in {DISPLAY_RANGE} after {tries} tries")


def free_port(tries: int = 500) -> tuple[int, _Reservation]:
    """Pick a free TCP port on loopback and reserve it; returns ``(port, reservation)``."""
    rng = random.Random((os.getpid() << 16) ^ time.monotonic_ns())
    for _ in range(tries):
        port = rng.randrange(*PORT_RANGE)
        res = _try_reserve("port", port)
        if res is None:
            continue
        if port_is_free(port):
            return port, res
        res.release()
    raise ServerStartError(f"no free TCP port in {PORT_RANGE} after {tries} tries")


# --------------------------------------------------------------------------
# Probes
# --------------------------------------------------------------------------

_BANNER_RE = re.compile(rb"RFB (\d{3})\.(\d{3})\n")


def probe_rfb_banner(host: str, port: int, timeout: float = 2.0) -> str:
    """Connect, read the 12-byte ``RFB xxx.yyy\\n`` banner, close; return it.

    Raises OSError (connection refused, timeout) or ValueError (bad banner).
    """
    with socket.create_connection((host, port), timeout=timeout) as s:
        data = b""
        while len(data) < 12:
            chunk = s.recv(12 - len(data))
            if not chunk:
                raise ConnectionError(f"{host}:{port} closed after {data!r}")
            data += chunk
    if not _BANNER_RE.fullmatch(data):
        raise ValueError(f"{host}:{port} sent {data!r}, not an RFB banner")
    return data.decode("ascii")


def _parse_address(hex_addr: str) -> tuple[str, int]:
    """``0100007F:1F90`` (tcp) or 32 hex digits + port (tcp6) -> ("127.0.0.1", 8080)."""
    addr, port = hex_addr.split(":")
    raw = bytes.fromhex(addr)
    # The kernel prints each 32-bit word of the address in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words)), int(port, 16)


def listening_inodes() -> dict[int, tuple[str, int]]:
    """Socket inode -> (address, port) of every TCP socket listening in this network namespace."""
    out: dict[int, tuple[str, int]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A":  # TCP_LISTEN
                        out[int(fields[9])] = _parse_address(fields[1])
        except (OSError, StopIteration, IndexError, ValueError):  # no IPv6 here, or not Linux
            continue
    return out


def _listening_socket_inodes(port: int) -> set[int]:
    """Inodes of the TCP sockets listening on ``port`` (this network namespace)."""
    return {inode for inode, (_, p) in listening_inodes().items() if p == port}


def pid_listens_on(pid: int, port: int) -> bool | None:
    """True if process ``pid`` holds a socket listening on TCP ``port``.

    None when /proc cannot tell (not Linux).  Used so that a banner probe
    cannot be answered by some other server that won a race for the port.
    """
    if not os.path.exists("/proc/net/tcp"):
        return None
    inodes = _listening_socket_inodes(port)
    if not inodes:
        return False
    mine = _pid_socket_inodes(pid)
    return None if mine is None else bool(inodes & mine)


def _pid_socket_inodes(pid: int) -> set[int] | None:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    out = set()
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            out.add(int(link[8:-1]))
    return out


def pid_owns_display(pid: int, n: int) -> bool | None:
    """True if process ``pid`` holds the listening socket of X display ``:n``
    (``/tmp/.X11-unix/X<n>`` or its abstract twin).  None if /proc cannot tell."""
    try:
        with open("/proc/net/unix") as f:
            next(f)
            inodes = {
                int(fields[6])
                for fields in (line.split() for line in f)
                if len(fields) >= 8 and fields[7] in (f"/tmp/.X11-unix/X{n}", f"@/tmp/.X11-unix/X{n}")
            }
    except (OSError, StopIteration, ValueError):
        return None
    mine = _pid_socket_inodes(pid)
    if mine is None:
        return None
    return bool(inodes & mine)


def _xlib() -> None:
    try:
        import Xlib.display  # noqa: F401
    except ImportError as exc:  # pragma: no cover - environment
        raise ImportError("tests/servers.py needs python-xlib: pip install python-xlib") from exc


def _patch_xlib_event_classes() -> None:
    """Work around a python-xlib 0.33 bug with several X servers in one process.

    ``Xlib.protocol.display.Display.event_classes`` is a class attribute that
    every connection mutates with its extensions' event codes.  Two servers
    with different extension sets (Xvfb and Xvnc) give the same code to
    different extensions, and the second connection then fails with
    ``TypeError: 'type' object does not support item assignment``.  Give each
    connection its own copy.
    """
    from Xlib.protocol import display as pdisplay, event

    if getattr(pdisplay.Display, "_vncenv_own_event_classes", False):
        return
    orig_init = pdisplay.Display.__init__

    def __init__(self, *args, **kw):
        self.event_classes = event.event_class.copy()
        orig_init(self, *args, **kw)

    pdisplay.Display.__init__ = __init__
    pdisplay.Display._vncenv_own_event_classes = True


def _open_display(name: str):
    """A python-xlib Display; errors are raised, not printed."""
    _xlib()
    from Xlib import display as xdisplay

    _patch_xlib_event_classes()
    return xdisplay.Display(name)


def _display_check(name: str) -> str | None:
    """None if an X client can connect to ``name`` now, else why not."""
    n = name.lstrip(":").split(".")[0]
    if not (os.path.exists(f"/tmp/.X11-unix/X{n}") or int(n) in _abstract_x_sockets()):
        return f"no socket /tmp/.X11-unix/X{n} yet"
    try:
        _xlib()
    except ImportError:
        r = subprocess.run(["xdpyinfo", "-display", name], capture_output=True, timeout=10)
        return None if r.returncode == 0 else f"xdpyinfo: {r.stderr.decode(errors='replace').strip()}"
    try:
        d = _open_display(name)
    except Exception as exc:
        return f"python-xlib: {exc!r}"
    try:
        d.sync()  # one round trip
    finally:
        d.close()
    return None


def display_accepts(name: str) -> bool:
    """True if an X client can connect to ``name`` (e.g. ``":123"``) right now."""
    return _display_check(name) is None


def wait_for_display(name: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while (why := _display_check(name)) is not None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"X display {name} not accepting connections after {timeout}s: {why}")
        time.sleep(0.05)


def have_xvnc() -> bool:
    return shutil.which("Xvnc") is not None


def have_x11vnc() -> bool:
    return shutil.which("x11vnc") is not None and shutil.which("Xvfb") is not None


# --------------------------------------------------------------------------
# Process management
# --------------------------------------------------------------------------

_live_servers: "set[_ServerBase]" = set()
_live_lock = threading.Lock()
_PR_SET_PDEATHSIG = 1


def _stop_all_at_exit() -> None:
    with _live_lock:
        servers = list(_live_servers)
    for srv in servers:
        try:
            srv.cleanup()
        except Exception:  # pragma: no cover - best effort at exit
            pass


atexit.register(_stop_all_at_exit)


def _preexec_deathsig(parent_pid: int) -> Callable[[], None]:
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:  # runs in the child between fork and exec
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent already died
            os._exit(1)

    return preexec


def _tail(path: str, nbytes: int = 4000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - nbytes))
            return f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"


# Log lines that mean "somebody else took the display or the port": retry.
_RACE_PATTERNS = re.compile(
    r"already active for display|Server is already active|"
    r"Cannot establish any listening sockets|Address already in use|"
    r"could not obtain lock|_XSERVTransMakeAllCOTSServerListeners|"
    r"ListenOnTCPPort|failed to listen|Unable to listen|bind.*failed",
    re.IGNORECASE,
)


class _Proc:
    """One child process with its own log file."""

    def __init__(self, args: Sequence[str], log_path: str, env: dict | None = None) -> None:
        self.args = list(args)
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self._log.write(("$ " + " ".join(self.args) + "\n").encode())
        self._log.flush()
        preexec = None
        if threading.current_thread() is threading.main_thread():
            preexec = _preexec_deathsig(os.getpid())
        self.popen = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=preexec,
            close_fds=True,
        )
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM this pid, wait ``grace`` seconds, then SIGKILL it."""
        try:
            if self.popen.poll() is None:
                self.popen.send_signal(signal.SIGTERM)
                try:
                    self.popen.wait(grace)
                except subprocess.TimeoutExpired:
                    self.popen.kill()
                    self.popen.wait(grace)
            return self.popen.returncode
        finally:
            if not self._log.closed:
                self._log.close()


class _ServerBase:
    """Common parts of the two server kinds.

    Attributes after :meth:`start`: ``host``, ``port``, ``display`` (``":N"``),
    ``display_number``, ``password`` (None or str), ``width``, ``height``,
    ``log_path``, ``banner``, ``pids``.
    """

    kind = "vnc"
    host = "127.0.0.1"

    def __init__(
        self,
        width: int = 640,
        height: int = 480,
        password: str | None = None,
        extra_args: Sequence[str] = (),
        start_timeout: float = 30.0,
        attempts: int = 4,
    ) -> None:
        if password is not None and not (1 <= len(password.encode()) <= 8):
            raise ValueError("a VNC password is 1 to 8 bytes (longer ones are truncated by servers)")
        self.width = width
        self.height = height
        self.password = password
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.attempts = attempts
        self.port: int = 0
        self.display_number: int = 0
        self.banner: str | None = None
        self._procs: list[_Proc] = []
        self._reservations: list[_Reservation] = []
        self._tmpdir = tempfile.mkdtemp(prefix=f"vncenv-{self.kind}-")
        self.log_path = os.path.join(self._tmpdir, "server.log")
        self._started = False

    # -- public ---------------------------------------------------------
    @property
    def display(self) -> str:
        return f":{self.display_number}"

    @property
    def address(self) -> str:
        """``vnc://127.0.0.1:PORT`` (with ``?password=`` if any)."""
        url = f"vnc://{self.host}:{self.port}"
        return url + (f"?password={self.password}" if self.password else "")

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    @property
    def env(self) -> dict:
        """``os.environ`` with ``DISPLAY`` set to this server's display."""
        env = dict(os.environ)
        env["DISPLAY"] = self.display
        env.pop("XAUTHORITY", None)
        return env

    def log_tail(self, nbytes: int = 4000) -> str:
        return _tail(self.log_path, nbytes)

    def alive(self) -> bool:
        return bool(self._procs) and all(p.alive() for p in self._procs)

    def start(self) -> "_ServerBase":
        if self._started:
            return self
        last_error: Exception | None = None
        for attempt in range(self.attempts):
            self.display_number, dres = free_display()
            self.port, pres = free_port()
            self._reservations = [dres, pres]
            try:
                self._launch()
                self._wait_ready(self.start_timeout)
            except ServerStartError as exc:
                last_error = exc
                log = self.log_tail()
                self._stop_procs()
                self._release()
                if _RACE_PATTERNS.search(log) and attempt + 1 < self.attempts:
                    continue  # lost a race for the display or the port
                raise
            self._started = True
            with _live_lock:
                _live_servers.add(self)
            return self
        raise last_error or ServerStartError("server did not start")  # pragma: no cover

    def stop(self) -> None:
        """Stop every process this object started (by pid).  Idempotent."""
        with _live_lock:
            _live_servers.discard(self)
        self._stop_procs()
        self._release()
        self._started = False

    def cleanup(self) -> None:
        """:meth:`stop` and remove the temp dir with the logs."""
        self.stop()
        shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        # Keep the logs (log_path) when the block raised; they explain failures.
        if exc_type is None:
            self.cleanup()
        else:
            self.stop()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.display} port={self.port} "
            f"{self.width}x{self.height} pids={self.pids} log={self.log_path}>"
        )

    # -- internals ------------------------------------------------------
    def _spawn(self, args: Sequence[str]) -> _Proc:
        proc = _Proc(args, self.log_path)
        self._procs.append(proc)
        return proc

    def _stop_procs(self) -> None:
        # Reverse order: x11vnc before the Xvfb it polls.
        while self._procs:
            self._procs.pop().stop()

    def _release(self) -> None:
        for r in self._reservations:
            r.release()
        self._reservations = []

    def _fail(self, what: str) -> ServerStartError:
        return ServerStartError(
            f"{type(self).__name__} on {self.display} port {self.port}: {what}\n"
            f"--- tail of {self.log_path} ---\n{self.log_tail()}"
        )

    def _check_alive(self) -> None:
        for p in self._procs:
            if not p.alive():
                raise self._fail(f"{p.args[0]} (pid {p.pid}) exited with status {p.popen.returncode}")

    def _wait_display(self, deadline: float) -> None:
        x_pid = self._procs[0].pid  # Xvnc or Xvfb
        while True:
            self._check_alive()
            # The display must be ours, not a foreign server's that won a race.
            if pid_owns_display(x_pid, self.display_number) is False:
                why = f"pid {x_pid} does not own display {self.display} yet"
            else:
                why = _display_check(self.display)
            if why is None:
                return
            if time.monotonic() > deadline:
                raise self._fail(f"timed out waiting for the X display to accept connections ({why})")
            time.sleep(0.05)

    def _wait_banner(self, deadline: float) -> None:
        vnc_pid = self._procs[-1].pid  # Xvnc, or x11vnc (started after Xvfb)
        while True:
            self._check_alive()
            # The port must be ours: another process may have won the race for it
            # (x11vnc even falls back to IPv6 and prints PORT= when IPv4 is taken).
            if pid_listens_on(vnc_pid, self.port) is not False:
                try:
                    self.banner = probe_rfb_banner(self.host, self.port, timeout=2.0)
                    return
                except (OSError, ValueError):
                    pass
            if time.monotonic() > deadline:
                raise self._fail("timed out waiting for the RFB banner")
            time.sleep(0.05)

    def _password_file(self, argv: Sequence[str], input_line: bool) -> str:
        path = os.path.join(self._tmpdir, "passwd")
        if input_line:
            r = subprocess.run(
                list(argv), input=(self.password + "\n").encode(), capture_output=True, timeout=20
            )
            if r.returncode != 0 or not r.stdout:
                raise ServerStartError(f"{argv[0]} failed: {r.stderr.decode(errors='replace')}")
            with open(path, "wb") as f:
                f.write(r.stdout)
        else:
            r = subprocess.run(list(argv) + [self.password, path], capture_output=True, timeout=20)
            if r.returncode != 0 or not os.path.exists(path):
                raise ServerStartError(f"{argv[0]} failed: {r.stderr.decode(errors='replace')}")
        os.chmod(path, 0o600)
        return path

    def _launch(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self._wait_display(deadline)
        self._wait_banner(deadline)


class XvncServer(_ServerBase):
    """TigerVNC ``Xvnc :N -rfbport P -localhost`` with SecurityTypes None or VncAuth.

    Extra flags beyond the brief, and why:

    * ``-noreset``: without it the X server resets (clearing the root window
      and everything a :class:`Scene` drew) whenever its last X client
      disconnects; the VNC server inside Xvnc is not an X client.
    * ``-nolisten tcp``: no TCP port 6000+N to collide on.
    * ``-AlwaysShared``: several test clients may connect to one server.
    * ``-desktop vncenv-test``: a known desktop name for ServerInit.

    ``frame_rate`` sets ``-FrameRate`` (TigerVNC's per-client update cap, 60
    by default).  Resize with :func:`resize` (xrandr); Xvnc then sends
    DesktopSize / ExtendedDesktopSize to its clients.
    """

    kind = "xvnc"

    def __init__(
        self,
        width: int = 640,
        height: int = 480,
        password: str | None = None,
        frame_rate: int | None = None,
        extra_args: Sequence[str] = (),
        **kw,
    ) -> None:
        super().__init__(width, height, password, extra_args, **kw)
        self.frame_rate = frame_rate

    def _launch(self) -> None:
        args = [
            "Xvnc", self.display,
            "-rfbport", str(self.port),
            "-localhost",
            "-geometry", f"{self.width}x{self.height}",
            "-depth", "24",
            "-noreset",
            "-nolisten", "tcp",
            "-AlwaysShared",
            "-desktop", "vncenv-test",
        ]  # fmt: skip
        if self.password is None:
            args += ["-SecurityTypes", "None"]
        else:
            pw = self._password_file(["vncpasswd", "-f"], input_line=True)
            args += ["-SecurityTypes", "VncAuth", "-PasswordFile", pw]
        if self.frame_rate is not None:
            args += ["-FrameRate", str(int(self.frame_rate))]
        args += self.extra_args
        self._spawn(args)


# x11vnc flags for tests that compare pixels, chosen by measurement on x11vnc
# 0.9.16 + Xvfb 21.1 (640x480; time from a drawing call's XSync until a Raw
# client's framebuffer equals the drawn image; 16 changes of each kind):
#
#   flags                              1 pixel   1 row   64x64   400x400 PutImage   after 2 s idle
#                                                         noise   with 1 pixel changed
#   x11vnc defaults                    <=122 ms  <=83    <=82    median 470, max 1774   62
#   -noxdamage -wait 5 -defer 5        <=313     <=266   <=31    (scanline polling)     <=287
#   these flags (DAMAGE, -xd_area 0)   <=21      <=12    <=22    <=23                   <=27
#
# * -xdamage -xd_area 0: use the X DAMAGE extension and trust *every* damage
#   rectangle (x11vnc by default trusts only rects under 20000 pixels and uses
#   larger ones as "hints" for its 1-in-32-scanlines polling, so a small change
#   inside a big redrawn area took up to 1.8 s).  -noxdamage (plain polling) is
#   worse: a one-pixel change waits until the polling reaches its scanline.
# * -wait 5 -defer 5: poll every 5 ms (default 20) and send 5 ms after a
#   change (default 20).  Idle CPU stays about 1%.
# * -nonap -sb 0 -nowait_bog: otherwise x11vnc sleeps longer when the screen is
#   idle ("naps"; 1.5 s polls after 60 s of no change) or when polls are slow
#   (a loaded test machine).
# * -env X11VNC_AVOID_WINDOWS=never: x11vnc >= 0.9.9 avoids XFIXES until it
#   sees a window manager, and meanwhile paints a generic cursor into the
#   framebuffer at the pointer, whatever the X cursor is.  With XFIXES it
#   follows the real X cursor, so a Scene's hidden cursor is invisible and the
#   Cursor pseudo-encoding carries the real shape.
# * -noscr (no scrollcopyrect), -nowf (no wireframe), -noxrecord: heuristics
#   that guess window moves/scrolls from snooped X requests and "may induce
#   transients or painting errors" (x11vnc -help).  Without them x11vnc sends
#   exactly what it polled, and never CopyRect: test CopyRect against Xvnc.
# * -ncache 0: no client-side pixel cache (a framebuffer (n+1) times taller).
# * -nosel: no clipboard polling, so no unsolicited ServerCutText.
# * -norc: ignore ~/.x11vncrc.  (-noipv6 is always given: see X11vncServer.)
X11VNC_RELIABLE_ARGS: tuple[str, ...] = (
    "-xdamage",
    "-xd_area", "0",
    "-wait", "5",
    "-defer", "5",
    "-nonap",
    "-sb", "0",
    "-nowait_bog",
    "-env", "X11VNC_AVOID_WINDOWS=never",
    "-noscr",
    "-nowf",
    "-noxrecord",
    "-ncache", "0",
    "-nosel",
    "-norc",
)  # fmt: skip


class X11vncServer(_ServerBase):
    """``Xvfb :N -screen 0 WxHx24`` polled by ``x11vnc -rfbport P -localhost``.

    ``reliable=True`` (default) adds :data:`X11VNC_RELIABLE_ARGS`; pass
    ``reliable=False`` to get x11vnc's defaults (plus ``extra_args``).
    Xvfb runs with ``-noreset -nolisten tcp`` for the reasons given in
    :class:`XvncServer`.
    """

    kind = "x11vnc"

    def __init__(
        self,
        width: int = 640,
        height: int = 480,
        password: str | None = None,
        reliable: bool = True,
        extra_args: Sequence[str] = (),
        **kw,
    ) -> None:
        super().__init__(width, height, password, extra_args, **kw)
        self.reliable = reliable

    def _launch(self) -> None:
        self._spawn(
            [
                "Xvfb", self.display,
                "-screen", "0", f"{self.width}x{self.height}x24",
                "-noreset",
                "-nolisten", "tcp",
            ]  # fmt: skip
        )
        self._wait_display(time.monotonic() + self.start_timeout)
        args = [
            "x11vnc",
            "-display", self.display,
            "-rfbport", str(self.port),
            "-localhost",
            "-forever",
            "-shared",
            "-desktop", "vncenv-test",
            "-noipv6",  # else x11vnc falls back to IPv6 when the IPv4 port is taken
        ]  # fmt: skip
        if self.password is None:
            args += ["-nopw"]
        else:
            args += ["-rfbauth", self._password_file(["x11vnc", "-storepasswd"], input_line=False)]
        if self.reliable:
            args += list(X11VNC_RELIABLE_ARGS)
        args += self.extra_args
        self._spawn(args)


# --------------------------------------------------------------------------
# Pixels: visual masks, grab, scene
# --------------------------------------------------------------------------


def _mask_shift(mask: int) -> tuple[int, int]:
    """(shift, bits) of a contiguous channel mask."""
    if mask == 0:
        raise ValueError("zero channel mask")
    shift = (mask & -mask).bit_length() - 1
    bits = (mask >> shift).bit_length()
    if (mask >> shift) != (1 << bits) - 1:
        raise ValueError(f"non-contiguous channel mask {mask:#x}")
    return shift, bits


class _Format:
    """How a depth-24 TrueColor ZPixmap image is laid out on this X server."""

    def __init__(self, d) -> None:
        from Xlib import X

        screen = d.screen()
        self.depth = screen.root_depth
        visual = None
        for depth in screen.allowed_depths:
            for v in depth.visuals:
                if v.visual_id == screen.root_visual:
                    visual = v
        if visual is None:
            raise RuntimeError("root visual not found in the screen's depths")
        if visual.visual_class not in (X.TrueColor, X.DirectColor) or self.depth != 24:
            raise RuntimeError(
                f"need a 24-bit TrueColor root visual, got class {visual.visual_class} depth {self.depth}"
            )
        self.masks = (visual.red_mask, visual.green_mask, visual.blue_mask)
        self.shifts = [_mask_shift(m) for m in self.masks]
        if any(bits != 8 for _, bits in self.shifts):
            raise RuntimeError(f"need 8 bits per channel, masks {[hex(m) for m in self.masks]}")
        fmt = [f for f in d.display.info.pixmap_formats if f.depth == self.depth]
        if not fmt:
            raise RuntimeError("no pixmap format for depth 24")
        self.bpp = fmt[0].bits_per_pixel
        self.pad = fmt[0].scanline_pad
        if self.bpp != 32:
            raise RuntimeError(f"need 32 bits per pixel for depth 24, got {self.bpp}")
        self.byteorder = "<" if d.display.info.image_byte_order == X.LSBFirst else ">"

    def stride(self, width: int) -> int:
        bits = width * self.bpp
        return ((bits + self.pad - 1) // self.pad) * self.pad // 8

    def pack(self, rgb: np.ndarray) -> bytes:
        """(h, w, 3) uint8 RGB -> ZPixmap bytes with rows padded to the stride."""
        h, w, _ = rgb.shape
        c = rgb.astype(np.uint32)
        pix = np.zeros((h, w), np.uint32)
        for ch, (shift, _bits) in enumerate(self.shifts):
            pix |= c[:, :, ch] << np.uint32(shift)
        arr = pix.astype(np.dtype(np.uint32).newbyteorder(self.byteorder))
        stride = self.stride(w)
        if stride == w * 4:
            return arr.tobytes()
        out = np.zeros((h, stride), np.uint8)
        out[:, : w * 4] = arr.view(np.uint8).reshape(h, w * 4)
        return out.tobytes()

    def unpack(self, data: bytes, w: int, h: int) -> np.ndarray:
        stride = self.stride(w)
        raw = np.frombuffer(data, np.uint8, count=stride * h).reshape(h, stride)[:, : w * 4]
        pix = raw.copy().view(np.dtype(np.uint32).newbyteorder(self.byteorder)).reshape(h, w)
        pix = pix.astype(np.uint32)
        out = np.empty((h, w, 3), np.uint8)
        for ch, (shift, _bits) in enumerate(self.shifts):
            out[:, :, ch] = (pix >> np.uint32(shift)) & np.uint32(0xFF)
        return out

    def pixel(self, rgb: Sequence[int]) -> int:
        v = 0
        for c, (shift, _bits) in zip(rgb, self.shifts):
            v |= (int(c) & 0xFF) << shift
        return v


def _display_name(display) -> str:
    if isinstance(display, _ServerBase):
        return display.display
    if isinstance(display, int):
        return f":{display}"
    return str(display)


def root_geometry(display) -> tuple[int, int]:
    """(width, height) of the root window, asked from the X server."""
    d = _open_display(_display_name(display))
    try:
        g = d.screen().root.get_geometry()
        return g.width, g.height
    finally:
        d.close()


# A python-xlib request is limited to 2**16 4-byte units without BIG-REQUESTS
# (which python-xlib does not use): keep each PutImage/GetImage band small.
_MAX_REQUEST_BYTES = 200_000


def _get_image(d, fmt: _Format, x: int, y: int, w: int, h: int) -> np.ndarray:
    from Xlib import X

    root = d.screen().root
    out = np.empty((h, w, 3), np.uint8)
    rows = max(1, _MAX_REQUEST_BYTES // max(1, fmt.stride(w)))
    for y0 in range(0, h, rows):
        hh = min(rows, h - y0)
        img = root.get_image(x, y + y0, w, hh, X.ZPixmap, 0xFFFFFFFF)
        out[y0 : y0 + hh] = fmt.unpack(img.data, w, hh)
    return out


def grab_screen(display, x: int = 0, y: int = 0, width: int | None = None, height: int | None = None) -> np.ndarray:
    """The X server's own pixels of the root window (or a part) as (H, W, 3) uint8 RGB.

    ``display`` is a server object, ``":N"``, or ``N``.  Uses GetImage on the
    root window with the root visual's channel masks; the cursor is not
    included (the X server's software cursor is removed from GetImage).
    """
    d = _open_display(_display_name(display))
    try:
        fmt = _Format(d)
        g = d.screen().root.get_geometry()
        w = g.width - x if width is None else width
        h = g.height - y if height is None else height
        return _get_image(d, fmt, x, y, w, h)
    finally:
        d.close()


def resize(display, width: int, height: int, timeout: float = 10.0) -> None:
    """Resize an Xvnc display to ``width`` x ``height`` with xrandr; verify it.

    Verified on TigerVNC 1.12 (X.Org 1.21.1): ``xrandr --fb WxH`` alone works
    only when the new size contains the output's current mode (it fails with
    BadValue when shrinking below it), and ``xrandr -s`` only takes listed
    modes.  So we add a mode of exactly that size to the output (``VNC-0``) and
    switch the screen and the output together::

        xrandr --newmode vncenv-WxH <clock> W W W W H H H H
        xrandr --addmode VNC-0 vncenv-WxH
        xrandr --fb WxH --output VNC-0 --mode vncenv-WxH

    Any size works, larger or smaller; it takes 10-60 ms.  Xvnc then sends
    its clients ExtendedDesktopSize (or DesktopSize) rects.

    Not for :class:`X11vncServer` (RuntimeError): Xvfb's RandR can only shrink
    below its initial ``-screen`` size, and x11vnc follows size changes only
    with ``-xrandr``, by dropping and re-creating its framebuffer.
    """
    if isinstance(display, X11vncServer):
        raise RuntimeError("resize() is for Xvnc; Xvfb + x11vnc has a fixed framebuffer size")
    name = _display_name(display)
    env = dict(os.environ, DISPLAY=name)

    def xrandr(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run(["xrandr", *args], env=env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"xrandr {' '.join(args)} failed: {r.stderr.strip() or r.stdout.strip()}")
        return r

    q = xrandr("-q")
    outputs = re.findall(r"^(\S+) (?:connected|disconnected)", q.stdout, re.M)
    if not outputs:
        raise RuntimeError(f"no RandR output on {name}:\n{q.stdout}")
    output = outputs[0]
    mode = f"vncenv-{width}x{height}"
    if not re.search(rf"^\s+{re.escape(mode)}\s", q.stdout, re.M):
        clock = f"{width * height * 60 / 1e6:.3f}"  # 60 Hz; the number is cosmetic
        r = xrandr("--newmode", mode, clock, *(str(width),) * 4, *(str(height),) * 4, check=False)
        if r.returncode != 0 and "BadName" not in r.stderr:  # BadName: exists unattached
            raise RuntimeError(f"xrandr --newmode failed: {r.stderr.strip()}")
        xrandr("--addmode", output, mode)
    xrandr("--fb", f"{width}x{height}", "--output", output, "--mode", mode)
    deadline = time.monotonic() + timeout
    while root_geometry(name) != (width, height):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} is {root_geometry(name)} after xrandr, not {(width, height)}")
        time.sleep(0.02)
    if isinstance(display, _ServerBase):
        display.width, display.height = width, height


def photo_image(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A deterministic photo-like (H, W, 3) uint8 image: smooth gradients,
    soft blobs and seeded noise.  Same arguments, same bytes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    u = xx / max(1, width - 1)
    v = yy / max(1, height - 1)
    img = np.empty((height, width, 3), np.float64)
    ph = rng.uniform(0, 2 * np.pi, size=3)
    img[:, :, 0] = 40 + 170 * u + 30 * np.sin(6.0 * v + ph[0])
    img[:, :, 1] = 60 + 140 * v + 30 * np.sin(5.0 * u + ph[1])
    img[:, :, 2] = 90 + 80 * np.sin(3.0 * (u + v) + ph[2])
    for _ in range(6):  # soft blobs
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.08, 0.3) * max(width, height)
        amp = rng.uniform(-60, 60, size=3)
        g = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
        img += g[:, :, None] * amp
    img += rng.normal(0, 6.0, size=img.shape)  # sensor noise
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


class Scene:
    """Deterministic drawing on an X display's root window (python-xlib).

    Everything drawn is a function of the calls and ``seed``; :attr:`expected`
    is an (H, W, 3) RGB model of what the screen must now show (text excepted:
    its glyph pixels are read back from the server once, see :meth:`text`).
    Pixels go through exactly: images are packed with the root visual's masks
    (24-bit TrueColor is required and checked).

    ``hide_cursor=True`` (default) puts a fully transparent cursor on the
    root window, so servers that paint the cursor into the framebuffer (x11vnc
    and Xvnc for clients without the Cursor pseudo-encoding) send exactly the
    drawn pixels.  The connection stays open until :meth:`close`; call
    :meth:`sync` (done by every drawing method) before expecting the server to
    have the pixels.

    Usage::

        scene = Scene(server, seed=1)
        scene.clear((0, 0, 0)); scene.photo(); scene.fill(10, 10, 50, 50, (255, 0, 0))
        scene.text(20, 100, "hello"); scene.move_block(dx=8, dy=0)
        assert (grab_screen(server) == scene.expected).all()
    """

    def __init__(self, display, seed: int = 0, hide_cursor: bool = True) -> None:
        from Xlib import X

        self.display_name = _display_name(display)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.d = _open_display(self.display_name)
        self.screen = self.d.screen()
        self.root = self.screen.root
        self.fmt = _Format(self.d)
        g = self.root.get_geometry()
        self.width, self.height = g.width, g.height
        self.gc = self.root.create_gc(graphics_exposures=False, subwindow_mode=X.IncludeInferiors)
        self.expected = _get_image(self.d, self.fmt, 0, 0, self.width, self.height)
        self.background = self.expected.copy()  # what a moved block uncovers
        self.block: tuple[int, int, int, int] | None = None
        self.block_color: tuple[int, int, int] | None = None
        self._font = None
        self._font_checked = False
        if hide_cursor:
            self.hide_cursor()
        self.sync()

    # -- basics ---------------------------------------------------------
    def sync(self) -> None:
        """Round trip: the X server has executed every request sent so far."""
        self.d.sync()

    def close(self) -> None:
        """Close the X connection (the drawn pixels stay: servers run -noreset)."""
        d, self.d = self.d, None
        if d is not None:
            try:
                d.close()
            except Exception:  # the server may already be gone
                pass

    def __enter__(self) -> "Scene":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def refresh_size(self) -> None:
        """Re-read the root size (after :func:`resize`); the model is re-grabbed."""
        g = self.root.get_geometry()
        self.width, self.height = g.width, g.height
        self.expected = _get_image(self.d, self.fmt, 0, 0, self.width, self.height)
        self.background = self.expected.copy()
        self.block = None

    def hide_cursor(self) -> None:
        pm = self.root.create_pixmap(1, 1, 1)
        gc = pm.create_gc(foreground=0, background=0)
        pm.fill_rectangle(gc, 0, 0, 1, 1)
        cursor = pm.create_cursor(pm, (0, 0, 0), (0, 0, 0), 0, 0)
        self.root.change_attributes(cursor=cursor)
        gc.free()
        pm.free()
        self.sync()

    # -- drawing --------------------------------------------------------
    def put_image(self, x: int, y: int, rgb: np.ndarray, background: bool = True) -> None:
        """Draw an (h, w, 3) uint8 RGB array at (x, y), exactly."""
        from Xlib import X

        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        h, w, _ = rgb.shape
        rows = max(1, _MAX_REQUEST_BYTES // max(1, self.fmt.stride(w)))
        for y0 in range(0, h, rows):
            band = rgb[y0 : y0 + rows]
            self.root.put_image(self.gc, x, y + y0, w, band.shape[0], X.ZPixmap, 24, 0, self.fmt.pack(band))
        self._model_set(x, y, rgb, background)
        self.sync()

    def clear(self, rgb: Sequence[int] = (0, 0, 0)) -> None:
        """Fill the whole screen with one colour."""
        self.fill(0, 0, self.width, self.height, rgb)
        self.block = None

    def fill(self, x: int, y: int, w: int, h: int, rgb: Sequence[int], background: bool = True) -> None:
        """A solid rectangle (PolyFillRectangle)."""
        self.gc.change(foreground=self.fmt.pixel(rgb))
        self.root.fill_rectangle(self.gc, x, y, w, h)
        patch = np.empty((h, w, 3), np.uint8)
        patch[:] = np.asarray(rgb, np.uint8)
        self._model_set(x, y, patch, background)
        self.sync()

    def photo(self, x: int = 0, y: int = 0, w: int | None = None, h: int | None = None, seed: int | None = None) -> np.ndarray:
        """A photo-like image (see :func:`photo_image`) seeded from the scene's
        seed (or ``seed``); returns the drawn array."""
        w = self.width - x if w is None else w
        h = self.height - y if h is None else h
        img = photo_image(w, h, self.seed if seed is None else seed)
        self.put_image(x, y, img)
        return img

    def blocks(self, n: int = 12, min_size: int = 8, max_size: int = 96) -> list[tuple[int, int, int, int, tuple[int, int, int]]]:
        """``n`` solid blocks at seeded random places and colours; returns them."""
        out = []
        for _ in range(n):
            w = int(self.rng.integers(min_size, max_size + 1))
            h = int(self.rng.integers(min_size, max_size + 1))
            x = int(self.rng.integers(0, max(1, self.width - w)))
            y = int(self.rng.integers(0, max(1, self.height - h)))
            color = tuple(int(c) for c in self.rng.integers(0, 256, size=3))
            self.fill(x, y, w, h, color)
            out.append((x, y, w, h, color))
        return out

    def noise(self, x: int, y: int, w: int, h: int) -> np.ndarray:
        """Uniform seeded noise (incompressible); returns the drawn array."""
        img = self.rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        self.put_image(x, y, img)
        return img

    def font_available(self, name: str = "fixed") -> bool:
        return self._get_font(name) is not None

    def _get_font(self, name: str = "fixed"):
        if self._font_checked:
            return self._font
        self._font_checked = True
        try:
            if not self.d.list_fonts(name, 1):
                return None
            self._font = self.d.open_font(name)
            self._font.query()  # raises if the font did not open
        except Exception:
            self._font = None
        return self._font

    def text(
        self,
        x: int,
        y: int,
        string: str,
        fg: Sequence[int] = (255, 255, 255),
        bg: Sequence[int] = (0, 0, 0),
    ) -> tuple[int, int, int, int] | None:
        """ImageText8 with the core font ``fixed`` (baseline at ``y``).

        Returns the box (x, y, w, h) it painted, or None when no core font is
        available (then nothing is drawn: tests should skip text checks).
        ImageText8 paints the whole box (background included), so the result
        is deterministic for a given font; the model takes those pixels from
        the server once.
        """
        font = self._get_font()
        if font is None:
            return None
        data = string.encode("latin-1")
        ext = font.query_text_extents(data)
        w = ext.overall_width
        top = y - ext.font_ascent
        h = ext.font_ascent + ext.font_descent
        self.gc.change(foreground=self.fmt.pixel(fg), background=self.fmt.pixel(bg), font=font)
        self.root.image_text(self.gc, x, y, data)
        self.sync()
        x0, y0 = max(0, x), max(0, top)
        x1, y1 = min(self.width, x + w), min(self.height, top + h)
        if x1 > x0 and y1 > y0:
            patch = _get_image(self.d, self.fmt, x0, y0, x1 - x0, y1 - y0)
            self._model_set(x0, y0, patch, True)
        return (x, top, w, h)

    def copy(self, sx: int, sy: int, w: int, h: int, dx: int, dy: int) -> None:
        """CopyArea root -> root (servers can send this as CopyRect)."""
        self.root.copy_area(self.gc, self.root, sx, sy, w, h, dx, dy)
        # Clip like the X server: only the part of both rects on the screen moves.
        sx0, sy0, dx0, dy0, ww, hh = _clip_copy(sx, sy, w, h, dx, dy, self.width, self.height)
        if ww > 0 and hh > 0:
            self.expected[dy0 : dy0 + hh, dx0 : dx0 + ww] = self.expected[sy0 : sy0 + hh, sx0 : sx0 + ww].copy()
        self.sync()

    def place_block(self, x: int, y: int, w: int, h: int, rgb: Sequence[int] = (255, 64, 0)) -> None:
        """Put the movable block (solid colour) over the current content."""
        self.fill(x, y, w, h, rgb, background=False)
        self.block = (x, y, w, h)
        self.block_color = tuple(int(c) for c in rgb)

    def move_block(self, dx: int, dy: int) -> tuple[int, int, int, int]:
        """Move the block by (dx, dy): CopyArea to the new place, then repaint
        the uncovered strips from the background.  Returns the new rect."""
        if self.block is None:
            raise RuntimeError("place_block() first")
        x, y, w, h = self.block
        nx = min(max(0, x + dx), self.width - w)
        ny = min(max(0, y + dy), self.height - h)
        self.root.copy_area(self.gc, self.root, x, y, w, h, nx, ny)
        self.expected[ny : ny + h, nx : nx + w] = self.expected[y : y + h, x : x + w].copy()
        # Uncovered part of the old rect: old minus new, as up to 2 strips.
        strips = []
        if ny > y:
            strips.append((x, y, w, min(h, ny - y)))
        elif ny < y:
            top = max(y, ny + h)
            strips.append((x, top, w, y + h - top))
        oy0, oy1 = max(y, ny), min(y + h, ny + h)
        if oy1 > oy0:
            if nx > x:
                strips.append((x, oy0, min(w, nx - x), oy1 - oy0))
            elif nx < x:
                left = max(x, nx + w)
                strips.append((left, oy0, x + w - left, oy1 - oy0))
        for sx, sy, sw, sh in strips:
            if sw > 0 and sh > 0:
                self.put_image(sx, sy, self.background[sy : sy + sh, sx : sx + sw], background=False)
        self.block = (nx, ny, w, h)
        self.sync()
        return self.block

    # -- model ----------------------------------------------------------
    def _model_set(self, x: int, y: int, patch: np.ndarray, background: bool) -> None:
        h, w = patch.shape[:2]
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(self.width, x + w), min(self.height, y + h)
        if x1 <= x0 or y1 <= y0:
            return
        sub = patch[y0 - y : y1 - y, x0 - x : x1 - x]
        self.expected[y0:y1, x0:x1] = sub
        if background:
            self.background[y0:y1, x0:x1] = sub


def _clip_copy(sx, sy, w, h, dx, dy, W, H):
    """Clip a CopyArea on one drawable of size W x H; returns sx, sy, dx, dy, w, h."""
    # Clip the source to the drawable; shift the destination with it.
    if sx < 0:
        dx -= sx; w += sx; sx = 0  # noqa: E702
    if sy < 0:
        dy -= sy; h += sy; sy = 0  # noqa: E702
    w = min(w, W - sx)
    h = min(h, H - sy)
    # Clip the destination.
    if dx < 0:
        sx -= dx; w += dx; dx = 0  # noqa: E702
    if dy < 0:
        sy -= dy; h += dy; dy = 0  # noqa: E702
    w = min(w, W - dx)
    h = min(h, H - dy)
    return sx, sy, dx, dy, w, h


# --------------------------------------------------------------------------
# A minimal independent RFB client (Raw + CopyRect), a test oracle
# --------------------------------------------------------------------------

ENC_RAW = 0
ENC_COPYRECT = 1
ENC_LASTRECT = -224
ENC_DESKTOPSIZE = -223
ENC_CURSOR = -239
ENC_EXTENDED_DESKTOPSIZE = -308

# 32 bpp, depth 24, little-endian, true colour, 255/255/255, shifts R0 G8 B16.
CANONICAL_PIXEL_FORMAT = struct.pack("!BBBBHHHBBB3x", 32, 24, 0, 1, 255, 255, 255, 0, 8, 16)


class RFBAuthError(Exception):
    pass


def vnc_auth_response(challenge: bytes, password: str) -> bytes:
    """DES-encrypt the 16-byte challenge with the VNC password (bit-reversed key)."""
    from Crypto.Cipher import DES  # pycryptodome

    key = password.encode("latin-1")[:8].ljust(8, b"\0")
    key = bytes(int(f"{b:08b}"[::-1], 2) for b in key)
    return DES.new(key, DES.MODE_ECB).encrypt(challenge)


class RawRFBClient:
    """A small RFB 3.3/3.7/3.8 client: None or VNC auth; Raw, CopyRect,
    DesktopSize, ExtendedDesktopSize, Cursor (consumed) and LastRect.

    It keeps ``fb``, an (H, W, 3) uint8 RGB array, in the canonical pixel
    format.  ``tap`` (optional) is called with every chunk received from the
    server, in order (e.g. an FBS writer's ``write``).  Not vncenv's client:
    an independent oracle for checking servers, scenes and recordings.
    """

    def __init__(
        self,
        host: str,
        port: int,
        password: str | None = None,
        shared: bool = True,
        timeout: float = 10.0,
        encodings: Iterable[int] = (ENC_COPYRECT, ENC_RAW, ENC_DESKTOPSIZE, ENC_EXTENDED_DESKTOPSIZE),
        tap: Callable[[bytes], object] | None = None,
    ) -> None:
        self.timeout = timeout
        self.tap = tap
        self._buf = bytearray()
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rects_by_encoding: dict[int, int] = {}
        self.updates = 0
        self.cursor: bytes | None = None
        try:
            self._handshake(password, shared)
            self.send(b"\x00\x00\x00\x00" + CANONICAL_PIXEL_FORMAT)
            encs = list(encodings)
            self.encodings = encs
            self.send(struct.pack("!BxH", 2, len(encs)) + b"".join(struct.pack("!i", e) for e in encs))
        except BaseException:
            self.sock.close()
            raise

    # -- I/O ------------------------------------------------------------
    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "RawRFBClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _fill(self, n: int, timeout: float | None) -> None:
        self.sock.settimeout(timeout)
        while len(self._buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                raise ConnectionError(f"server closed the connection ({len(self._buf)}/{n} bytes buffered)")
            if self.tap is not None:
                self.tap(chunk)
            self._buf += chunk

    def _read(self, n: int) -> bytes:
        self._fill(n, self.timeout)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def _u8(self) -> int:
        return self._read(1)[0]

    def _u16(self) -> int:
        return struct.unpack("!H", self._read(2))[0]

    def _u32(self) -> int:
        return struct.unpack("!I", self._read(4))[0]

    # -- handshake ------------------------------------------------------
    def _handshake(self, password: str | None, shared: bool) -> None:
        banner = self._read(12)
        m = _BANNER_RE.fullmatch(banner)
        if not m:
            raise ValueError(f"not an RFB server: {banner!r}")
        self.server_version = (int(m.group(1)), int(m.group(2)))
        minor = 8 if self.server_version >= (3, 8) else 7 if self.server_version >= (3, 7) else 3
        self.version = (3, minor)
        self.send(b"RFB 003.%03d\n" % minor)
        if minor == 3:
            sectype = self._u32()
            if sectype == 0:
                raise RFBAuthError(self._read(self._u32()).decode(errors="replace"))
            self.security_types = [sectype]
        else:
            n = self._u8()
            if n == 0:
                raise RFBAuthError(self._read(self._u32()).decode(errors="replace"))
            self.security_types = list(self._read(n))
            if password is not None and 2 in self.security_types:
                sectype = 2
            elif 1 in self.security_types:
                sectype = 1
            elif 2 in self.security_types:
                raise RFBAuthError("server requires a password")
            else:
                raise RFBAuthError(f"no supported security type in {self.security_types}")
            self.send(bytes([sectype]))
        self.security_type = sectype
        if sectype == 2:
            if password is None:
                raise RFBAuthError("server requires a password")
            self.send(vnc_auth_response(self._read(16), password))
        elif sectype != 1:
            raise RFBAuthError(f"unsupported security type {sectype}")
        if sectype == 2 or minor == 8:
            result = self._u32()
            if result != 0:
                reason = self._read(self._u32()).decode(errors="replace") if minor == 8 else ""
                raise RFBAuthError(f"authentication failed ({result}): {reason}")
        self.send(b"\x01" if shared else b"\x00")
        w, h = self._u16(), self._u16()
        self.server_pixel_format = self._read(16)
        self.name = self._read(self._u32()).decode("utf-8", "replace")
        self.width, self.height = w, h
        self.fb = np.zeros((h, w, 3), np.uint8)

    # -- messages -------------------------------------------------------
    def request(self, incremental: bool = True, x: int = 0, y: int = 0, w: int | None = None, h: int | None = None) -> None:
        w = self.width - x if w is None else w
        h = self.height - y if h is None else h
        self.send(struct.pack("!BBHHHH", 3, 1 if incremental else 0, x, y, w, h))

    def read_message(self, timeout: float | None = None) -> tuple:
        """Read one server message; ``timeout`` bounds the wait for its first
        byte only (socket.timeout then, with nothing consumed)."""
        self._fill(1, timeout)
        mtype = self._u8()
        if mtype == 0:
            return ("update", self._read_update())
        if mtype == 1:
            self._read(1)
            self._u16()
            self._read(6 * self._u16())
            return ("colourmap",)
        if mtype == 2:
            return ("bell",)
        if mtype == 3:
            self._read(3)
            return ("cuttext", self._read(self._u32()))
        if mtype == 150:
            return ("end_continuous_updates",)
        if mtype == 248:
            self._read(3)
            flags = self._u32()
            return ("fence", flags, self._read(self._u8()))
        raise ValueError(f"unknown server message type {mtype}")

    def _read_update(self) -> list[tuple[int, int, int, int, int]]:
        self._read(1)
        nrects = self._u16()
        rects = []
        i = 0
        while nrects == 0xFFFF or i < nrects:
            i += 1
            x, y, w, h, enc = struct.unpack("!HHHHi", self._read(12))
            rects.append((x, y, w, h, enc))
            self.rects_by_encoding[enc] = self.rects_by_encoding.get(enc, 0) + 1
            if enc == ENC_LASTRECT:
                break
            if enc == ENC_RAW:
                data = np.frombuffer(self._read(w * h * 4), np.uint8).reshape(h, w, 4)
                self.fb[y : y + h, x : x + w] = data[:, :, :3]
            elif enc == ENC_COPYRECT:
                sx, sy = struct.unpack("!HH", self._read(4))
                self.fb[y : y + h, x : x + w] = self.fb[sy : sy + h, sx : sx + w].copy()
            elif enc == ENC_DESKTOPSIZE:
                self._resize(w, h)
            elif enc == ENC_EXTENDED_DESKTOPSIZE:
                nscreens = self._u8()
                self._read(3 + 16 * nscreens)
                if y == 0:  # status 0: a real change (or the initial report)
                    self._resize(w, h)
            elif enc == ENC_CURSOR:
                self.cursor = self._read(w * h * 4 + ((w + 7) // 8) * h)
            else:
                raise ValueError(f"unexpected encoding {enc}")
        self.updates += 1
        return rects

    def _resize(self, w: int, h: int) -> None:
        if (w, h) != (self.width, self.height):
            self.width, self.height = w, h
            self.fb = np.zeros((h, w, 3), np.uint8)

    def update(self, incremental: bool = False, timeout: float | None = None) -> list:
        """Request and return the rects of the next FramebufferUpdate."""
        self.request(incremental)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.001, deadline - time.monotonic())
            msg = self.read_message(left)
            if msg[0] == "update":
                return msg[1]

    def wait_for(self, predicate: Callable[[np.ndarray], bool], timeout: float = 10.0) -> float:
        """Keep one incremental request outstanding until ``predicate(fb)``;
        returns the seconds it took.  Raises TimeoutError."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        if predicate(self.fb):
            return 0.0
        self.request(incremental=True)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"framebuffer did not match within {timeout}s")
            try:
                msg = self.read_message(min(left, 0.5))
            except socket.timeout:
                continue
            if msg[0] == "update":
                if predicate(self.fb):
                    return time.monotonic() - t0
                self.request(incremental=True)

    def wait_for_image(self, expected: np.ndarray, timeout: float = 10.0) -> float:
        return self.wait_for(lambda fb: fb.shape == expected.shape and bool((fb == expected).all()), timeout)


def wait_until_equal(session, server, timeout: float = 20.0) -> np.ndarray:
    """Wait until a VNC session's picture equals the X server's own pixels; return it.

    Fails the test (``AssertionError``) after ``timeout`` s, naming the first pixel that differs.
    """
    from vncenv.error import Timeout

    deadline = time.monotonic() + timeout
    while True:
        expected = grab_screen(server)
        got = session.snapshot()
        if got.shape == expected.shape and np.array_equal(got, expected):
            return got
        if time.monotonic() > deadline:
            assert got.shape == expected.shape, f"client {got.shape}, server {expected.shape} after {timeout} s"
            first = tuple(np.argwhere((got != expected).any(axis=2))[0])
            raise AssertionError(
                f"{int((got != expected).any(axis=2).sum())} pixels differ after {timeout} s; first at (y, x) "
                f"{first}: client {got[first]}, server {expected[first]}"
            )
        try:
            session.wait_for_update(timeout=0.5)
        except Timeout:
            pass
