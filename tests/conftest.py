"""Shared pytest fixtures: real VNC servers and scenes (see tests/servers.py).

Fixtures
--------
``xvnc``
    A started :class:`servers.XvncServer` (TigerVNC Xvnc), 640x480, no
    password.  Function-scoped: a fresh server per test, stopped (by pid)
    afterwards.  Attributes: ``.host``, ``.port``, ``.display`` (``":N"``),
    ``.password`` (None or str), ``.width``, ``.height``, ``.log_path``.
``x11vnc``
    The same for :class:`servers.X11vncServer` (Xvfb + x11vnc with the
    options in ``servers.X11VNC_RELIABLE_ARGS``).
``vnc_server``
    Parametrized over both kinds: a test using it runs once with ``xvnc``
    and once with ``x11vnc`` (ids ``[xvnc]`` and ``[x11vnc]``).
``scene``
    A factory: ``scene(server_or_display, seed=0, hide_cursor=True)`` returns a
    :class:`servers.Scene`; every scene it made is closed after the test.

Server options come from the ``vnc_options`` marker, e.g.::

    @pytest.mark.vnc_options(width=320, height=200, password="secret")
    def test_auth(vnc_server): ...

Any keyword of the server classes is accepted (``frame_rate`` is Xvnc only and
ignored for x11vnc; ``reliable`` is x11vnc only and ignored for Xvnc).  A test
whose kind of server is not installed fails (``make deps`` installs both).  Every test that uses one of
the server fixtures gets the ``server`` marker, so ``-m "not server"`` runs the
rest.  When such a test fails, the report shows the tail of the server's log.
"""

from __future__ import annotations

import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import servers  # noqa: E402

# A suite started with SIGINT ignored (nohup, `make test &` in a script) would
# pass that on to every program it starts, and the Ctrl-C tests of the CLI
# would wait forever: a handled signal is reset to the default in a child.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

_SERVER_FIXTURES = ("xvnc", "x11vnc", "vnc_server")
_ONLY_FOR = {"frame_rate": "xvnc", "reliable": "x11vnc"}


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "vnc_options(**kw): keyword arguments for the xvnc / x11vnc / vnc_server fixtures",
    )
    config.addinivalue_line("markers", "server: needs a real VNC server (Xvnc or x11vnc)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """When a test that used a server fails, show the tail of the server's log."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for name in _SERVER_FIXTURES:
            server = getattr(item, "funcargs", {}).get(name)
            if isinstance(server, servers._ServerBase):
                report.sections.append(
                    (f"{name} {server.display} port {server.port}: log tail", server.log_tail(3000))
                )


def pytest_collection_modifyitems(config, items):
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in _SERVER_FIXTURES):
            item.add_marker(pytest.mark.server)


def _options(request, kind: str) -> dict:
    kw: dict = {}
    for mark in reversed(list(request.node.iter_markers("vnc_options"))):
        kw.update(mark.kwargs)
    return {k: v for k, v in kw.items() if _ONLY_FOR.get(k, kind) == kind}


def _start(request, kind: str):
    if kind == "xvnc":
        if not servers.have_xvnc():
            pytest.fail("TigerVNC Xvnc is not installed: run `make deps` (tests never skip real servers)")
        server = servers.XvncServer(**_options(request, kind))
    else:
        if not servers.have_x11vnc():
            pytest.fail("x11vnc or Xvfb is not installed: run `make deps` (tests never skip real servers)")
        server = servers.X11vncServer(**_options(request, kind))
    server.start()
    return server


@pytest.fixture
def xvnc(request):
    """A started TigerVNC Xvnc server (see the module docstring)."""
    server = _start(request, "xvnc")
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def x11vnc(request):
    """A started Xvfb + x11vnc server (see the module docstring)."""
    server = _start(request, "x11vnc")
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(params=["xvnc", "x11vnc"])
def vnc_server(request):
    """Each kind of server in turn (see the module docstring)."""
    server = _start(request, request.param)
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def scene():
    """Factory: ``scene(server_or_display, seed=0, hide_cursor=True) -> Scene``."""
    made: list[servers.Scene] = []

    def make(display, seed: int = 0, hide_cursor: bool = True) -> servers.Scene:
        s = servers.Scene(display, seed=seed, hide_cursor=hide_cursor)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()
