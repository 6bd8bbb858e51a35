"""Adversity §4: security defaults, checked on a real local remote and a real RewarderServer.

* every port we open listens on loopback only (from /proc/net/tcp{,6}, by
  the pids of the remote's process tree), and X11 never listens on TCP;
* the VNC server and the rewarder refuse a missing or wrong password;
* the password appears in no log (the remote's own output with every
  logger at DEBUG, Xvnc's log, this process's log records at DEBUG), on no
  command line (/proc/PID/cmdline is readable by every user), and in the
  environment of no program the remote starts.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import stat

import pytest
from procs import descendants

from vncenv.error import AuthenticationError
from vncenv.remotes import build
from vncenv.rewarder import RewarderClient, RewarderServer
from vncenv.runtimes.xvnc import Xvnc
from vncenv.vnc.session import VNCSession

LOOPBACK = {"127.0.0.1", "::1"}
PASSWORD = "Sec-Pw-42"  # distinctive, so a grep cannot miss it

# Puts every logger of the remote's Python process at DEBUG (imported at
# interpreter start-up through PYTHONPATH): a test-side switch, the product
# is not changed for it.
SITECUSTOMIZE = """\
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
"""


def secret_forms(password: str) -> list[str]:
    """The password and the encodings it travels in (the rewarder's Basic authorization)."""
    return [
        password,
        base64.b64encode(f"{password}:".encode()).decode(),
        base64.b64encode(password.encode()).decode().rstrip("="),
    ]


def cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode("utf-8", "replace")


def environ(pid: int) -> bytes:
    with open(f"/proc/{pid}/environ", "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    """A default local remote (sync Pong) whose Python logs everything at DEBUG."""
    site = tmp_path_factory.mktemp("site")
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
        manager = build(1, env_id="ALE/Pong-v5", mode="sync", scale=1)
    with manager:
        (r,) = manager.ready(timeout=60)
        yield manager, r


def remote_pids(manager) -> set[int]:
    return descendants(manager._processes[0].popen.pid, include_self=True)  # noqa: SLF001


def xvnc_pid(pids: set[int]) -> int:
    (pid,) = [p for p in pids if cmdline(p).startswith("Xvnc ")]
    return pid


def test_every_port_listens_on_loopback_only(remote, listening_sockets):
    manager, r = remote
    pids = remote_pids(manager)
    sockets = listening_sockets(pids)
    found = {port for addresses in sockets.values() for _, port in addresses}
    assert {r.vnc_port, r.rewarder_port} <= found, (sockets, r)
    for pid, addresses in sockets.items():
        for address, port in addresses:
            assert address in LOOPBACK, f"{cmdline(pid)[:60]} listens on {address}:{port}"
    # X11 over TCP: not at all
    xvnc = xvnc_pid(pids)
    args = cmdline(xvnc).split()
    assert "-localhost" in args and args[args.index("-nolisten") + 1] == "tcp"
    display = int(args[1].lstrip(":"))
    assert all(port != 6000 + display for _, port in sockets.get(xvnc, ())), sockets
    assert all(not 6000 <= port < 6100 for _, port in sockets.get(xvnc, ()))


def test_vnc_and_rewarder_refuse_a_missing_or_wrong_password(remote):
    _, r = remote
    with pytest.raises(AuthenticationError, match="requires a password"):
        VNCSession.connect(r.host, r.vnc_port, timeout=10)
    with pytest.raises(AuthenticationError):
        VNCSession.connect(r.host, r.vnc_port, password="not-it", timeout=10)
    for password in (None, "not-it"):
        with pytest.raises(AuthenticationError):
            RewarderClient.connect(r.host, r.rewarder_port, password=password, start_timeout=5, timeout=15)
    with VNCSession.connect(r.host, r.vnc_port, password=r.password, timeout=10) as vnc:
        assert vnc.width == 160


def test_a_default_rewarder_server_binds_loopback_and_demands_its_password(listening_sockets):
    server = RewarderServer(port=0, password=PASSWORD, env_id="Sec-v0").start()
    try:
        mine = listening_sockets([os.getpid()])[os.getpid()]
        assert {address for address, port in mine if port == server.port} == {"127.0.0.1"}
        for password in (None, "not-it"):
            with pytest.raises(AuthenticationError):
                RewarderClient.connect("127.0.0.1", server.port, password=password, start_timeout=5, timeout=15)
        with RewarderClient.connect("127.0.0.1", server.port, password=PASSWORD, start_timeout=5) as client:
            assert client.connected
    finally:
        server.close()


def test_xvnc_defaults_to_a_random_password_and_loopback(listening_sockets):
    with Xvnc(64, 64) as xvnc:
        assert xvnc.password and xvnc.host == "127.0.0.1"
        pid = xvnc.process.pid
        assert {address for address, _ in listening_sockets([pid])[pid]} <= LOOPBACK
        password_file = next(a for a in cmdline(pid).split() if a.endswith("/passwd"))
        assert stat.S_IMODE(os.stat(password_file).st_mode) == 0o600
        with pytest.raises(AuthenticationError):
            VNCSession.connect(xvnc.host, xvnc.port, timeout=10)
        with VNCSession.connect(xvnc.host, xvnc.port, password=xvnc.password, timeout=10) as vnc:
            assert vnc.width == 64


def test_no_password_in_logs_command_lines_or_child_environments(remote, caplog):
    manager, r = remote
    caplog.set_level(logging.DEBUG)  # every logger of this process: vncenv.*, websockets, ...
    # a session's worth of traffic, good and bad, on both channels
    with VNCSession.connect(r.host, r.vnc_port, password=r.password, timeout=10) as vnc:
        vnc.wait_for_update(timeout=10, after=0)
    with RewarderClient.connect(r.host, r.rewarder_port, password=r.password, start_timeout=10) as client:
        client.reset(timeout=30)
        client.ping()
    for password in ("wrong-one", None):
        with pytest.raises(AuthenticationError):
            RewarderClient.connect(r.host, r.rewarder_port, password=password, start_timeout=5, timeout=15)
    with pytest.raises(AuthenticationError):
        VNCSession.connect(r.host, r.vnc_port, password="wrong-one", timeout=10)

    secrets = secret_forms(r.password)
    # this process's records, messages and arguments
    assert caplog.records, "nothing was logged at DEBUG"
    assert any(rec.name.startswith("vncenv.rewarder") for rec in caplog.records)
    for rec in caplog.records:
        text = rec.getMessage() + repr(rec.args)
        assert not any(s in text for s in secrets), f"{rec.name}: {text[:200]}"
    # the remote's own output, DEBUG included
    with open(manager.log_path(r), "rb") as f:
        remote_log = f.read().decode("utf-8", "replace")
    assert re.search(r"vncenv\.\S+ DEBUG ", remote_log), "the remote did not log at DEBUG"
    assert "refused" in remote_log  # the bad attempts were logged
    pids = remote_pids(manager)
    xvnc = xvnc_pid(pids)
    xvnc_dir = os.path.dirname(next(a for a in cmdline(xvnc).split() if a.endswith("/passwd")))
    with open(os.path.join(xvnc_dir, "Xvnc.log"), "rb") as f:
        xvnc_log = f.read().decode("utf-8", "replace")
    assert "Connections: accepted" in xvnc_log
    for name, text in [("remote log", remote_log), ("Xvnc log", xvnc_log)]:
        for s in secrets:
            assert s not in text, f"the password ({s!r}) is in the {name}"
    # command lines (world-readable) of every process of the remote and of this one
    for pid in pids | {os.getpid()}:
        assert r.password not in cmdline(pid), cmdline(pid)
    # the programs the remote starts do not inherit it (the server took it out of its environment)
    for pid in pids - {manager._processes[0].popen.pid}:  # noqa: SLF001
        assert r.password.encode() not in environ(pid), cmdline(pid)
