"""``vncenv serve gym-core``: Xvnc + the runtime + its rewarder, in the foreground."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import sys
import threading
import time

from ...rewarder import RewarderServer
from ..xvnc import Xvnc
from ..xwindow import XWindow
from .runtime import GymCoreRuntime

__all__ = ["serve"]

logger = logging.getLogger(__name__)


def serve(
    env_id: str,
    *,
    vnc_port: int,
    rewarder_port: int,
    password: str | None = None,
    fps: float = 60.0,
    mode: str = "realtime",
    display: int | None = None,
    scale: int = 2,
    host: str = "127.0.0.1",
    parent_pid: int | None = None,
    ready: threading.Event | None = None,
) -> int:
    """Serve ``env_id`` until SIGTERM or Ctrl-C; return the exit status.

    Without ``password``, ``$VNCENV_PASSWORD`` is used (and removed from the
    environment, so the programs this starts do not inherit it); without
    either, a random one (printed).  Pass passwords that way, not on a
    command line, which every user of the machine can read.  Every port
    binds to ``host``, loopback by default.
    """
    if password is None:
        password = os.environ.pop("VNCENV_PASSWORD", None) or None
    generated = password is None
    if generated:
        password = secrets.token_urlsafe(6)[:8]
    runtime = GymCoreRuntime(env_id, fps=fps, mode=mode, scale=scale)
    g = runtime.geometry
    # sync mode: let Xvnc send a frame as soon as one is drawn
    xvnc = Xvnc(g.width, g.height, password=password, frame_rate=1000 if mode == "sync" else max(60, int(fps)),
                host=host, display=display, port=vnc_port)  # fmt: skip
    server = window = None
    previous = {}
    try:
        xvnc.start()
        window = XWindow(xvnc.display, g.width, g.height, title=env_id)
        server = RewarderServer(host, rewarder_port, password=password, env_id=env_id, fps=fps,
                                on_reset=runtime.on_reset, on_action=runtime.on_action).start()  # fmt: skip
        for sig in (signal.SIGTERM, signal.SIGINT):
            if threading.current_thread() is threading.main_thread():
                previous[sig] = signal.signal(sig, lambda *_: runtime.stop())
        print(
            f"vncenv serve: {env_id} ({mode}, {g.width}x{g.height}) on vnc://{host}:{xvnc.port}+{server.port} "
            f"display {xvnc.display}" + (f" password {password}" if generated else ""),
            flush=True,
        )
        if parent_pid is not None:
            threading.Thread(target=_watch_parent, args=(parent_pid, runtime), daemon=True).start()
        xvnc_died = threading.Event()
        threading.Thread(target=_watch_xvnc, args=(xvnc, runtime, xvnc_died), daemon=True).start()
        if ready is not None:
            ready.set()
        runtime.run(window, server)
        if xvnc_died.is_set():
            print(f"vncenv serve: Xvnc exited ({xvnc.log_tail(500).strip()[-200:]}); stopping", file=sys.stderr, flush=True)
            return 4
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server is not None:
            server.close()
        if window is not None:
            window.close()
        xvnc.stop()
        runtime.env.close()


def _watch_xvnc(xvnc: Xvnc, runtime: GymCoreRuntime, died: threading.Event) -> None:
    """Stop the runtime once its Xvnc is gone: a remote without a screen is dead
    (in sync mode nothing else would notice until the next step)."""
    process = xvnc.process
    if process is None:
        return
    process.wait()
    died.set()
    runtime.stop()


def _watch_parent(pid: int, runtime: GymCoreRuntime) -> None:
    """Stop the runtime once process ``pid`` is gone (even if it was SIGKILLed)."""
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            runtime.stop()
            return
        except PermissionError:
            pass
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - via the CLI
    from ...cli import main as cli_main

    return cli_main(["serve", "gym-core", *(argv or sys.argv[1:])])
