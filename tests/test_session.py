"""The client end to end against real servers: TigerVNC Xvnc and Xvfb + x11vnc.

The client's framebuffer must equal the X server's own pixels (GetImage)
exactly for the lossless encodings, and come within 30 dB PSNR for JPEG.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import servers
from servers import wait_until_equal

from vncenv.error import AuthenticationError, Timeout
from vncenv.vnc.session import VNCSession

LOSSLESS = [
    pytest.param({"encoding": "raw"}, id="raw"),
    pytest.param({"encoding": "zrle"}, id="zrle"),
    pytest.param({"encoding": "tight"}, id="tight"),
]


def draw_scene(scene) -> None:
    """Known content: a photo, solid blocks, text, and a block to move."""
    scene.photo()
    scene.blocks(n=10)
    if scene.font_available():
        scene.text(20, 40, "vncenv: The quick brown fox 0123456789")
    scene.place_block(40, 60, 48, 32)


@pytest.mark.parametrize("options", LOSSLESS)
def test_lossless_equals_server_pixels(vnc_server, scene, options):
    s = scene(vnc_server, seed=7)
    draw_scene(s)
    with VNCSession.connect(vnc_server.host, vnc_server.port, **options) as session:
        assert (session.width, session.height) == (vnc_server.width, vnc_server.height)
        wait_until_equal(session, vnc_server)
        # motion: servers send CopyRect and small updates for these
        for dx, dy in [(16, 0), (0, 12), (-7, 5), (30, -9)]:
            s.move_block(dx, dy)
        s.copy(0, 0, 120, 90, 200, 150)
        s.photo(300, 200, 160, 120, seed=3)
        wait_until_equal(session, vnc_server)
        stats = session.stats()
        assert stats.updates >= 2 and stats.rects >= 2 and stats.bytes > 0


@pytest.mark.parametrize("quality", [2, 8])
def test_tight_jpeg_psnr(vnc_server, scene, quality):
    s = scene(vnc_server, seed=11)
    s.photo()
    with VNCSession.connect(vnc_server.host, vnc_server.port, encoding="tight", quality_level=quality) as session:
        expected = servers.grab_screen(vnc_server)
        deadline = time.monotonic() + 20
        best = 0.0
        while time.monotonic() < deadline:
            got = session.snapshot().astype(np.float64)
            mse = np.mean((got - expected) ** 2)
            best = max(best, 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse))
            if best >= 30:
                break
            try:
                session.wait_for_update(timeout=0.5)
            except Timeout:
                pass
        assert best >= 30, f"PSNR {best:.1f} dB"


def test_desktop_resize_is_followed(xvnc, scene):
    with VNCSession.connect(xvnc.host, xvnc.port, encoding="zrle") as session:
        assert (session.width, session.height) == (640, 480)
        for width, height in [(800, 600), (333, 257)]:
            servers.resize(xvnc, width, height)
            deadline = time.monotonic() + 20
            while (session.width, session.height) != (width, height):
                assert time.monotonic() < deadline, f"still {session.width}x{session.height}"
                try:
                    session.wait_for_update(timeout=0.5)
                except Timeout:
                    pass
            s = scene(xvnc, seed=width)
            draw_scene(s)
            wait_until_equal(session, xvnc)


@pytest.mark.vnc_options(password="s3cret!")
def test_vnc_auth(vnc_server, scene):
    s = scene(vnc_server, seed=5)
    s.photo()
    with VNCSession.connect(vnc_server.host, vnc_server.port, password="s3cret!", encoding="zrle") as session:
        wait_until_equal(session, vnc_server)
    with pytest.raises(AuthenticationError):
        VNCSession.connect(vnc_server.host, vnc_server.port, password="wrong", encoding="zrle")
    with pytest.raises(AuthenticationError, match="password"):
        VNCSession.connect(vnc_server.host, vnc_server.port, encoding="zrle")


def test_input_events_reach_the_server(xvnc):
    """A pointer move through the session lands on the X server."""
    from Xlib import display as xdisplay

    with VNCSession.connect(xvnc.host, xvnc.port) as session:
        session.pointer_event(123, 77, 0)
        d = xdisplay.Display(xvnc.display)
        try:
            deadline = time.monotonic() + 10
            while True:
                p = d.screen().root.query_pointer()
                if (p.root_x, p.root_y) == (123, 77):
                    break
                assert time.monotonic() < deadline, f"pointer at {(p.root_x, p.root_y)}"
                time.sleep(0.02)
        finally:
            d.close()
        session.key_event("a", True)
        session.key_event("a", False)
        assert not session.closed


def test_many_sessions_share_one_process(xvnc, scene):
    s = scene(xvnc, seed=2)
    s.photo()
    sessions = [VNCSession.connect(xvnc.host, xvnc.port, encoding=enc) for enc in ["zrle", "tight", "raw"] * 3]
    try:
        for session in sessions:
            wait_until_equal(session, xvnc)
    finally:
        for session in sessions:
            session.close()
    assert all(session.closed for session in sessions)
