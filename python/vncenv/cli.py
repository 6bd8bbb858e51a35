"""The ``vncenv`` command."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

__all__ = ["main"]

# Exit statuses of `vncenv capture`.
EXIT_OK = 0
EXIT_PROTOCOL = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_CONNECTION = 4
EXIT_TIMEOUT = 5


def _add_capture(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "capture",
        help="connect to a VNC server and save its screen",
        description=(
            "Connect to a VNC server, receive framebuffer updates and save the last complete "
            "one. Without --seconds or --until-closed it stops after the first full update."
        ),
    )
    p.add_argument("address", help="vnc://HOST:PORT, HOST::PORT or HOST:DISPLAY")
    p.add_argument("--encoding", choices=["tight", "zrle", "raw"], default="tight")
    p.add_argument("--quality", type=int, metavar="N", help="JPEG quality level 0-9 (Tight); omit for lossless")
    p.add_argument("--compress", type=int, metavar="N", help="compression level 0-9")
    p.add_argument("--password", help="VNC password (default: $VNCENV_PASSWORD)")
    until = p.add_mutually_exclusive_group()
    until.add_argument("--seconds", type=float, metavar="S", help="keep receiving for S seconds")
    until.add_argument("--until-closed", action="store_true", help="keep receiving until the server closes")
    p.add_argument("--out", metavar="FILE", help="write the last complete framebuffer (.png or .npy)")
    p.add_argument("--record", metavar="FILE.fbs", help="record the server stream to an FBS file")
    p.add_argument("--stats-json", metavar="FILE", help="write counters as JSON ('-' for stdout)")
    p.add_argument("--timeout", type=float, default=10.0, help="connect and first-update timeout, s")
    p.set_defaults(func=_capture)


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve a runtime over VNC (in the foreground)")
    runtimes = p.add_subparsers(dest="runtime", required=True)
    g = runtimes.add_parser(
        "gym-core",
        help="a Gymnasium/ALE env on TigerVNC Xvnc, with a rewarder",
        description=(
            "Start TigerVNC Xvnc (loopback only, VNC auth) and a Gymnasium env drawn on it, "
            "with its rewarder. Runs until SIGTERM or Ctrl-C, which stop everything it started."
        ),
    )
    g.add_argument("--env", required=True, help="Gymnasium id, e.g. ALE/Pong-v5 or CartPole-v1")
    g.add_argument("--vnc-port", type=int, required=True)
    g.add_argument("--rewarder-port", type=int, required=True)
    g.add_argument("--password", help="VNC and rewarder password (default: a random one, printed)")
    g.add_argument("--fps", type=float, default=60.0)
    g.add_argument("--mode", choices=["realtime", "sync"], default="realtime")
    g.add_argument("--display", help="X display, e.g. :5 (default: a free one)")
    g.add_argument("--scale", type=int, default=2, help="integer upscaling of the frames")
    g.add_argument("--parent-pid", type=int, help="stop when this process is gone (for remote managers)")
    g.set_defaults(func=_serve_gym_core)


def _serve_gym_core(args: argparse.Namespace) -> int:
    from .error import Error
    from .runtimes.gym_core.serve import serve

    display = None
    if args.display:
        try:
            display = int(args.display.lstrip(":"))
        except ValueError:
            return _fail(EXIT_USAGE, f"--display must look like :5, not {args.display!r}")
    try:
        return serve(
            args.env, vnc_port=args.vnc_port, rewarder_port=args.rewarder_port, password=args.password,
            fps=args.fps, mode=args.mode, display=display, scale=args.scale, parent_pid=args.parent_pid,
        )  # fmt: skip
    except Error as exc:
        return _fail(EXIT_PROTOCOL, str(exc))


def _capture(args: argparse.Namespace) -> int:
    from .error import AuthenticationError, ConnectionClosed, Error, ProtocolError, Timeout, UsageError
    from .vnc.address import parse_address
    from .vnc.session import VNCSession

    if args.out and not args.out.endswith((".png", ".npy")):
        return _fail(EXIT_USAGE, f"--out must end in .png or .npy, not {args.out!r}")
    try:
        address = parse_address(args.address)
    except UsageError as exc:
        return _fail(EXIT_USAGE, str(exc))
    password = args.password or address.password or os.environ.get("VNCENV_PASSWORD") or None

    cpu0, wall0 = time.process_time(), time.monotonic()
    session = None
    status, problem = EXIT_OK, None
    try:
        session = VNCSession(
            address.host,
            address.port,
            password=password,
            encoding=args.encoding,
            quality_level=args.quality,
            compress_level=args.compress,
            record=args.record,
            keep_last_frame=bool(args.out),
        )
        session.start(timeout=args.timeout)
        if args.until_closed or args.seconds is not None:
            # wait for the end, not for each update: the reader thread then
            # wakes nobody per update
            session.wait_closed(None if args.until_closed else args.seconds)
            if session.error is not None:
                raise session.error
        else:
            # The first full-screen refresh may follow a pseudo-rect-only update
            # (ExtendedDesktopSize): wait until a screen's worth of pixels came.
            end = time.monotonic() + args.timeout
            while session.stats().pixels < session.width * session.height:
                session.wait_for_update(timeout=max(0.0, end - time.monotonic()))
    except ConnectionClosed as exc:
        if not exc.clean:
            status, problem = EXIT_CONNECTION, str(exc)
    except AuthenticationError as exc:
        status, problem = EXIT_AUTH, f"authentication failed: {exc}"
    except ProtocolError as exc:
        status, problem = EXIT_PROTOCOL, f"protocol error: {exc}"
    except Timeout as exc:
        status, problem = EXIT_TIMEOUT, str(exc)
    except UsageError as exc:
        status, problem = EXIT_USAGE, str(exc)
    except Error as exc:
        status, problem = EXIT_PROTOCOL, str(exc)
    finally:
        if session is not None:
            session.close()

    stats: dict[str, Any] = {"address": str(address), "encoding": args.encoding, "exit_status": status}
    if session is not None:
        s = session.stats()
        stats.update(
            updates=s.updates,
            rects=s.rects,
            bytes=s.bytes,
            pixels=s.pixels,
            width=session.width if session.ready else None,
            height=session.height if session.ready else None,
        )
        if args.out and session.ready:
            frame = session.last_frame()
            if frame is not None:
                _save(args.out, frame)
                stats["out"] = args.out
    stats["cpu_seconds"] = round(time.process_time() - cpu0, 6)
    stats["wall_seconds"] = round(time.monotonic() - wall0, 6)
    if problem:
        stats["error"] = problem
    if args.stats_json:
        text = json.dumps(stats, indent=2)
        if args.stats_json == "-":
            print(text)
        else:
            with open(args.stats_json, "w") as f:
                f.write(text + "\n")
    if problem:
        return _fail(status, problem)
    return status


def _save(path: str, frame: Any) -> None:
    if path.endswith(".npy"):
        import numpy as np

        np.save(path, frame)
    else:
        from ._png import write_png

        write_png(path, frame)


def _fail(status: int, message: str) -> int:
    print(f"vncenv: {message}", file=sys.stderr)
    return status


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="vncenv", description="VNC environments for reinforcement learning.")
    parser.add_argument("--version", action="version", version=f"vncenv {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_capture(sub)
    _add_serve(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vncenv`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
