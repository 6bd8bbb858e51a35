"""Tests of the test servers themselves (tests/servers.py, tests/conftest.py).

If these fail, every test that uses a real server is suspect.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import servers
from servers import RawRFBClient, RFBAuthError, grab_screen, photo_image, resize, root_geometry

# --------------------------------------------------------------------------
# Free numbers


def test_free_display_is_free_and_reserved():
    n, res = servers.free_display()
    try:
        assert servers.DISPLAY_RANGE[0] <= n < servers.DISPLAY_RANGE[1]
        assert not servers.display_in_use(n)
        # The reservation excludes everybody else, this process included.
        assert servers._try_reserve("display", n) is None
    finally:
        res.release()
    again = servers._try_reserve("display", n)
    assert again is not None
    again.release()


def test_free_port_is_bindable_and_reserved():
    port, res = servers.free_port()
    try:
        assert servers.port_is_free(port)
        assert servers._try_reserve("port", port) is None
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
            s.listen()
            assert not servers.port_is_free(port)
    finally:
        res.release()


def test_reservation_is_seen_by_another_process():
    n, res = servers.free_display()
    code = textwrap.dedent(
        f"""
        import sys; sys.path.insert(0, {os.path.dirname(__file__)!r})
        import servers
        print(servers._try_reserve("display", {n}) is None)
        """
    )
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == "True", out.stderr
    finally:
        res.release()


def test_display_in_use_sees_running_server(xvnc):
    assert servers.display_in_use(xvnc.display_number)
    assert not servers.port_is_free(xvnc.port)


# --------------------------------------------------------------------------
# Startup, probe, stop


def test_banner_probe(vnc_server):
    banner = servers.probe_rfb_banner(vnc_server.host, vnc_server.port)
    assert re.fullmatch(r"RFB 003\.00[378]\n", banner)
    assert vnc_server.banner == banner
    assert servers.display_accepts(vnc_server.display)
    assert vnc_server.alive()
    assert (vnc_server.width, vnc_server.height) == (640, 480)
    assert root_geometry(vnc_server) == (640, 480)


def test_banner_probe_refused_on_closed_port():
    port, res = servers.free_port()
    try:
        with pytest.raises(OSError):
            servers.probe_rfb_banner("127.0.0.1", port, timeout=1.0)
    finally:
        res.release()


@pytest.mark.parametrize("kind", [servers.XvncServer, servers.X11vncServer])
def test_stop_kills_by_pid_and_frees_everything(kind):
    server = kind(width=160, height=120).start()
    pids, port, display = server.pids, server.port, server.display_number
    assert pids and all(os.path.exists(f"/proc/{p}") for p in pids)
    server.stop()
    server.stop()  # idempotent
    for p in pids:
        assert not os.path.exists(f"/proc/{p}")  # gone and reaped
    with pytest.raises(OSError):
        servers.probe_rfb_banner("127.0.0.1", port, timeout=1.0)
    assert not os.path.exists(f"/tmp/.X11-unix/X{display}")
    server.cleanup()


class _FakeRFBListener:
    """A listening socket on 127.0.0.1 that greets every connection with an
    RFB banner: a squatter on a port that a server we start must not mistake
    for itself."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.sendall(b"RFB 003.008\n")
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("taken", ["port", "display"])
@pytest.mark.parametrize("kind", [servers.XvncServer, servers.X11vncServer])
def test_start_retries_when_port_or_display_is_taken(kind, taken, xvnc, monkeypatch):
    """The first numbers handed out are taken by someone else (as in a race
    with a foreign process): startup must notice, and retry with new ones."""
    squatter = _FakeRFBListener()
    real_free_display, real_free_port = servers.free_display, servers.free_port
    handed = {"display": 0, "port": 0}

    def fake_free_display():
        handed["display"] += 1
        if taken == "display" and handed["display"] == 1:
            return xvnc.display_number, servers._Reservation("display", 900_000 + os.getpid())
        return real_free_display()

    def fake_free_port():
        handed["port"] += 1
        if taken == "port" and handed["port"] == 1:
            return squatter.port, servers._Reservation("port", 900_000 + os.getpid())
        return real_free_port()

    monkeypatch.setattr(servers, "free_display", fake_free_display)
    monkeypatch.setattr(servers, "free_port", fake_free_port)
    server = kind(width=160, height=120, start_timeout=20)
    try:
        server.start()
        assert handed[taken] == 2  # one retry
        assert server.port != squatter.port and server.display_number != xvnc.display_number
        assert servers.pid_listens_on(server.pids[-1], server.port)
        with RawRFBClient(server.host, server.port) as c:
            assert (c.width, c.height) == (160, 120)  # our server, not the squatter
        assert xvnc.alive()
    finally:
        server.cleanup()
        squatter.close()


@pytest.mark.parametrize("ending", ["exit", "sigkill"])
def test_servers_die_with_their_python_process(ending):
    """Servers left running are stopped at interpreter exit (atexit), and die
    with their parent even on SIGKILL (PR_SET_PDEATHSIG)."""
    code = textwrap.dedent(
        f"""
        import sys, time; sys.path.insert(0, {os.path.dirname(__file__)!r})
        import servers
        a = servers.XvncServer(width=160, height=120).start()
        b = servers.X11vncServer(width=160, height=120).start()
        print(*(a.pids + b.pids), flush=True)
        print(a._tmpdir, b._tmpdir, flush=True)
        if {ending!r} == "sigkill":
            time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        tmpdirs = proc.stdout.readline().split()
        assert len(pids) == 3
        if ending == "sigkill":
            assert all(os.path.exists(f"/proc/{p}") for p in pids)
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and [p for p in pids if _running(p)]:
        time.sleep(0.05)
    assert not [p for p in pids if _running(p)]
    for d in tmpdirs:  # left behind by the SIGKILLed process (exit removes them)
        if ending == "exit":
            assert not os.path.exists(d)
        shutil.rmtree(d, ignore_errors=True)


def _running(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_start_failure_reports_log_tail():
    server = servers.XvncServer(width=160, height=120, extra_args=["-no-such-option-vncenv"], start_timeout=10)
    with pytest.raises(servers.ServerStartError) as info:
        server.start()
    message = str(info.value)
    assert "exited with status" in message
    assert "no-such-option-vncenv" in message  # the log tail shows Xvnc's complaint
    assert server.pids == []
    server.cleanup()


_FIXTURE_PIDS: list[int] = []


def test_fixture_server_runs_during_the_test(vnc_server):
    _FIXTURE_PIDS.extend(vnc_server.pids)
    assert all(os.path.exists(f"/proc/{p}") for p in vnc_server.pids)


def test_fixture_servers_are_stopped_after_their_test():
    """Runs after the test above (file order): its servers are gone."""
    assert _FIXTURE_PIDS, "run this file whole: the test above records the pids"
    assert len(_FIXTURE_PIDS) == 3  # Xvnc; Xvfb + x11vnc
    assert not [p for p in _FIXTURE_PIDS if os.path.exists(f"/proc/{p}")]


@pytest.mark.vnc_options(width=320, height=200, password="s3cret")
def test_password_servers_require_vnc_auth(vnc_server):
    assert vnc_server.password == "s3cret"
    assert (vnc_server.width, vnc_server.height) == (320, 200)
    with RawRFBClient(vnc_server.host, vnc_server.port, password="s3cret") as c:
        assert c.security_types == [2]
        assert c.security_type == 2
        assert (c.width, c.height) == (320, 200)
    with pytest.raises(RFBAuthError):
        RawRFBClient(vnc_server.host, vnc_server.port, password="wrong")
    with pytest.raises(RFBAuthError):
        RawRFBClient(vnc_server.host, vnc_server.port)


def test_no_password_servers_offer_none(vnc_server):
    assert vnc_server.password is None
    with RawRFBClient(vnc_server.host, vnc_server.port) as c:
        assert 1 in c.security_types and 2 not in c.security_types
        assert c.version == (3, 8)
        assert c.name == "vncenv-test"
        assert (c.width, c.height) == (640, 480)


@pytest.mark.vnc_options(frame_rate=10)
def test_xvnc_frame_rate_option(xvnc):
    assert xvnc.frame_rate == 10
    with open(f"/proc/{xvnc.pids[0]}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    assert argv[argv.index(b"-FrameRate") + 1] == b"10"


# --------------------------------------------------------------------------
# Scene and grab_screen


def test_photo_image_is_deterministic():
    a = photo_image(97, 61, seed=5)
    b = photo_image(97, 61, seed=5)
    c = photo_image(97, 61, seed=6)
    assert a.shape == (61, 97, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    # Photo-like: many distinct colours, but neighbours are close.
    assert len(np.unique(a.reshape(-1, 3), axis=0)) > 2000
    assert np.abs(np.diff(a.astype(int), axis=1)).mean() < 20


def test_scene_pixels_read_back_exactly(vnc_server, scene):
    sc = scene(vnc_server, seed=7)
    sc.clear((0, 0, 0))
    img = sc.photo(0, 0, 300, 200)
    np.testing.assert_array_equal(grab_screen(vnc_server, 0, 0, 300, 200), img)  # bit-exact
    sc.fill(320, 10, 100, 50, (255, 0, 0))
    sc.fill(320, 70, 100, 50, (0, 255, 0))
    sc.fill(320, 130, 100, 50, (0, 0, 255))
    sc.fill(430, 10, 1, 1, (1, 2, 3))  # a single pixel, odd channel values
    grabbed = grab_screen(vnc_server)
    assert grabbed.shape == (480, 640, 3) and grabbed.dtype == np.uint8
    # The channels are not swapped: pure red is (255, 0, 0) in RGB order.
    assert tuple(grabbed[30, 360]) == (255, 0, 0)
    assert tuple(grabbed[100, 360]) == (0, 255, 0)
    assert tuple(grabbed[150, 360]) == (0, 0, 255)
    assert tuple(grabbed[10, 430]) == (1, 2, 3)
    sc.blocks(8)
    sc.noise(500, 300, 67, 33)
    grabbed = grab_screen(vnc_server)
    np.testing.assert_array_equal(grabbed, sc.expected)
    # A partial grab is the same pixels.
    np.testing.assert_array_equal(grab_screen(vnc_server, 10, 20, 30, 40), sc.expected[20:60, 10:40])


def test_scene_is_deterministic_across_servers(xvnc, x11vnc, scene):
    images = []
    for server in (xvnc, x11vnc):
        sc = scene(server, seed=11)
        sc.clear((10, 20, 30))
        sc.photo(0, 0, 200, 150)
        sc.blocks(5)
        sc.place_block(300, 300, 40, 30)
        sc.move_block(9, -4)
        images.append(grab_screen(server))
        np.testing.assert_array_equal(images[-1], sc.expected)
    np.testing.assert_array_equal(images[0], images[1])


def test_scene_text(vnc_server, scene):
    sc = scene(vnc_server)
    sc.clear((0, 0, 0))
    assert sc.font_available(), "no core X font 'fixed': make deps installs xfonts-base"
    box = sc.text(20, 40, "vncenv 0123", fg=(255, 255, 0), bg=(0, 0, 128))
    assert box is not None
    x, y, w, h = box
    assert w > 40 and h > 6
    region = grab_screen(vnc_server)[y : y + h, x : x + w]
    colours = {tuple(c) for c in region.reshape(-1, 3)}
    assert colours == {(255, 255, 0), (0, 0, 128)}  # ImageText: glyphs on a filled box
    np.testing.assert_array_equal(grab_screen(vnc_server), sc.expected)


def test_scene_motion(vnc_server, scene):
    sc = scene(vnc_server, seed=3)
    sc.photo()
    sc.place_block(100, 100, 50, 40, (255, 128, 0))
    before = grab_screen(vnc_server)
    for dx, dy in [(7, 0), (0, 5), (-3, -9), (12, 12), (-200, 0)]:
        sc.move_block(dx, dy)
        np.testing.assert_array_equal(grab_screen(vnc_server), sc.expected)
    x, y, w, h = sc.block
    assert x == 0  # clamped at the left edge
    after = grab_screen(vnc_server)
    assert (after[y : y + h, x : x + w] == (255, 128, 0)).all()
    # The old place shows the photo again.
    np.testing.assert_array_equal(after[100:140, 100:150], sc.background[100:140, 100:150])
    assert not np.array_equal(before, after)


def test_scene_hides_cursor_from_vnc_clients(vnc_server, scene):
    """With the Scene's blank cursor a Raw client sees exactly the drawn
    pixels, even at the pointer (the screen centre)."""
    sc = scene(vnc_server, seed=2)
    sc.photo()
    with RawRFBClient(vnc_server.host, vnc_server.port) as c:
        c.wait_for_image(sc.expected, timeout=10)
        np.testing.assert_array_equal(c.fb, grab_screen(vnc_server))


# --------------------------------------------------------------------------
# What a VNC client sees


def test_client_sees_scene_and_motion(vnc_server, scene):
    sc = scene(vnc_server, seed=5)
    sc.photo()
    sc.place_block(200, 150, 64, 48, (0, 200, 255))
    with RawRFBClient(vnc_server.host, vnc_server.port) as c:
        c.wait_for_image(sc.expected, timeout=10)
        for step in range(6):
            sc.move_block(5, 3)
            if step == 3:
                sc.fill(10, 10, 1, 1, (255, 255, 255))  # a one-pixel change
            seconds = c.wait_for_image(sc.expected, timeout=10)
            assert seconds < 5
        np.testing.assert_array_equal(c.fb, grab_screen(vnc_server))
        if vnc_server.kind == "xvnc":
            assert c.rects_by_encoding.get(servers.ENC_COPYRECT, 0) >= 1  # Xvnc sends moves as CopyRect


def test_x11vnc_updates_prompt_and_exact(x11vnc, scene):
    """The options in X11VNC_RELIABLE_ARGS: small changes anywhere, even inside
    a large redrawn area, arrive exactly and within a fraction of a second."""
    sc = scene(x11vnc, seed=9)
    sc.photo()
    rng = np.random.default_rng(0)
    with RawRFBClient(x11vnc.host, x11vnc.port) as c:
        c.wait_for_image(sc.expected, timeout=10)
        times = []
        for _ in range(5):
            x, y = int(rng.integers(0, 640)), int(rng.integers(0, 480))
            sc.fill(x, y, 1, 1, (255, 0, 255))
            times.append(c.wait_for_image(sc.expected, timeout=10))
            patch = sc.expected[40:440, 100:500].copy()
            patch[int(rng.integers(0, 400)), int(rng.integers(0, 400))] ^= 0xFF
            sc.put_image(100, 40, patch)  # a 400x400 redraw that changes one pixel
            times.append(c.wait_for_image(sc.expected, timeout=10))
    # Measured ~10-25 ms; x11vnc's defaults took up to 1.8 s for the redraw.
    assert max(times) < 1.0, times


# --------------------------------------------------------------------------
# Resize


def test_resize_changes_root_geometry_and_client_size(xvnc, scene):
    sc = scene(xvnc)
    with RawRFBClient(xvnc.host, xvnc.port) as c:
        for w, h in [(800, 600), (321, 203), (1024, 768), (640, 480)]:
            resize(xvnc, w, h)
            assert root_geometry(xvnc) == (w, h)
            assert (xvnc.width, xvnc.height) == (w, h)
            sc.refresh_size()
            assert (sc.width, sc.height) == (w, h)
            sc.photo(seed=w)
            grabbed = grab_screen(xvnc)
            assert grabbed.shape == (h, w, 3)
            np.testing.assert_array_equal(grabbed, sc.expected)
            c.wait_for_image(sc.expected, timeout=10)
            assert c.fb.shape == (h, w, 3)
        assert c.rects_by_encoding.get(servers.ENC_EXTENDED_DESKTOPSIZE, 0) >= 4


def test_resize_refuses_x11vnc(x11vnc):
    with pytest.raises(RuntimeError):
        resize(x11vnc, 320, 240)
    assert root_geometry(x11vnc) == (640, 480)


def test_free_tcp_ports_are_different_and_bindable():
    """Ports picked together never repeat (the kernel may reuse a port the
    moment its socket closes, so picking one at a time can give the same
    port twice: a remote's VNC and rewarder ports once collided that way)."""
    import socket

    from vncenv.runtimes.xvnc import free_tcp_ports

    for _ in range(200):
        ports = free_tcp_ports(4)
        assert len(set(ports)) == 4
    held = []
    try:
        for port in ports:
            s = socket.socket()
            held.append(s)
            s.bind(("127.0.0.1", port))
    finally:
        for s in held:
            s.close()
