"""The ``vncenv`` command.

=========  ==================================================================
command    what it does
=========  ==================================================================
demo       a random agent plays a game over VNC (``make demo``)
list       the registered env ids
capture    connect to a VNC server and save its screen
record     record a VNC server's stream to an FBS file
replay     serve an FBS recording as a VNC server, or decode it to PNG/video
bench      time the in-process decode of an FBS recording
serve      serve a runtime over VNC in the foreground
doctor     check what vncenv needs on this machine, and say how to fix it
=========  ==================================================================

Every command has ``--help``.  Importing this module starts nothing.
"""

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
EXIT_INTERRUPTED = 130  # Ctrl-C


def _connection_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("address", help="vnc://HOST:PORT, HOST::PORT or HOST:DISPLAY")
    p.add_argument("--encoding", choices=["tight", "zrle", "raw"], default="tight")
    p.add_argument("--quality", type=int, metavar="N", help="JPEG quality level 0-9 (Tight); omit for lossless")
    p.add_argument("--compress", type=int, metavar="N", help="compression level 0-9")
    p.add_argument("--password", help="VNC password (default: $VNCENV_PASSWORD)")


def _add_capture(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "capture",
        help="connect to a VNC server and save its screen",
        description=(
            "Connect to a VNC server, receive framebuffer updates and save the last complete "
            "one. Without --seconds or --until-closed it stops after the first full update."
        ),
        epilog="Exit status: 0 ok, 1 protocol error, 2 bad arguments, 3 authentication failed, "
        "4 connection lost or refused, 5 timeout, 130 Ctrl-C (the files are still written).",
    )
    _connection_options(p)
    until = p.add_mutually_exclusive_group()
    until.add_argument("--seconds", type=float, metavar="S", help="keep receiving for S seconds")
    until.add_argument("--until-closed", action="store_true", help="keep receiving until the server closes")
    p.add_argument("--out", metavar="FILE", help="write the last complete framebuffer (.png or .npy)")
    p.add_argument("--record", metavar="FILE.fbs", help="record the server stream to an FBS file")
    p.add_argument("--stats-json", metavar="FILE", help="write counters as JSON ('-' for stdout)")
    p.add_argument("--timeout", type=float, default=10.0, help="connect and first-update timeout, s")
    p.set_defaults(func=_capture)


def _add_record(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "record",
        help="record a VNC server's stream to an FBS file",
        description=(
            "Connect to a VNC server and record what it sends (from its RFB banner on) to an "
            "FBS 001.000 file, for S seconds or until the server closes; Ctrl-C stops the "
            "recording early and keeps it. `vncenv replay` and `vncenv bench` read the file."
        ),
        epilog="Exit status as for capture; Ctrl-C is a normal end (0).",
    )
    _connection_options(p)
    p.add_argument("--out", "-o", required=True, metavar="FILE.fbs", help="the recording to write")
    until = p.add_mutually_exclusive_group(required=True)
    until.add_argument("--seconds", type=float, metavar="S", help="record for S seconds")
    until.add_argument("--until-closed", action="store_true", help="record until the server closes (or Ctrl-C)")
    p.add_argument("--screenshot", metavar="FILE", help="also write the last complete picture (.png or .npy)")
    p.add_argument("--stats-json", metavar="FILE", help="write counters as JSON ('-' for stdout)")
    p.add_argument("--timeout", type=float, default=10.0, help="connect and first-update timeout, s")
    p.set_defaults(func=_record)


def _record(args: argparse.Namespace) -> int:
    capture_args = argparse.Namespace(
        address=args.address, encoding=args.encoding, quality=args.quality, compress=args.compress,
        password=args.password, seconds=args.seconds, until_closed=args.until_closed, out=args.screenshot,
        record=args.out, timeout=args.timeout,
    )  # fmt: skip
    try:
        status, stats = _run_capture(capture_args)
    except _BadArguments as exc:
        return _fail(EXIT_USAGE, str(exc))
    if args.stats_json:
        _write_json(args.stats_json, stats)
    if "error" in stats:
        return _fail(status, stats["error"])
    if args.stats_json != "-":
        print(
            f"recorded {stats.get('bytes', 0)} bytes ({stats.get('updates', 0)} updates, "
            f"{stats.get('width')}x{stats.get('height')}) in {stats['wall_seconds']:.1f} s to {args.out}"
            + (" (stopped by Ctrl-C)" if stats.get("interrupted") else ""),
            file=sys.stderr,
        )
    return status


def _add_demo(sub: argparse._SubParsersAction) -> None:
    from .demo import DESCRIPTION

    p = sub.add_parser(
        "demo",
        help="a random agent plays a game over VNC, with a live status line",
        description=DESCRIPTION,
        epilog="Exit status: 0 when the agent played and nothing failed, 1 on an error, 130 after Ctrl-C.",
    )
    from .demo import add_arguments

    add_arguments(p)
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_from_args

    return run_from_args(args)


def _add_list(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "list",
        help="the registered env ids (vncenv/<Game>-v0)",
        description="Print the env ids `import vncenv` registers with Gymnasium, one a line.",
        epilog="Exit status 1 when no id matches the filter.",
    )
    p.add_argument("filter", nargs="?", default="", help="only ids holding this text (any case)")
    p.add_argument("--long", "-l", action="store_true", help="also the runtime env each id serves, and its frame size")
    p.set_defaults(func=_list)


def _list(args: argparse.Namespace) -> int:
    from .envs.registration import RUNTIME_IDS, frame_size

    needle = args.filter.lower()
    ids = [env_id for env_id in RUNTIME_IDS if needle in env_id.lower() or needle in RUNTIME_IDS[env_id].lower()]
    if not ids:
        return _fail(1, f"no env id matches {args.filter!r} (`vncenv list` shows all {len(RUNTIME_IDS)})")
    width = max(len(env_id) for env_id in ids)
    for env_id in ids:
        if args.long:
            runtime = RUNTIME_IDS[env_id]
            w, h = frame_size(runtime)
            print(f"{env_id:{width}s}  {runtime:24s}  {w}x{h}")
        else:
            print(env_id)
    return 0


def _add_replay(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="serve an FBS recording over VNC, or decode it to PNG/video",
        description=(
            "Serve: without --to-png/--to-video, a VNC server on loopback plays the recording to "
            "every client that connects (at the recorded pace, or --fast), until Ctrl-C. The bytes "
            "go out as recorded: a password-protected recording accepts any password, and the pixels "
            "are in the recorder's pixel format (vncenv clients read them as recorded; a third-party "
            "viewer may show red and blue swapped). Convert: with --to-png and/or --to-video, the "
            "recording is decoded in process and written as its last picture and/or a video."
        ),
    )
    p.add_argument("fbs", help="an FBS recording (vncenv record, capture --record, the demo's session.fbs)")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default: %(default)s)")
    p.add_argument("--port", type=int, default=0, help="port to serve on (default: a free one, printed)")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, default=1.0, help="recorded seconds per second (default: %(default)s)")
    pace.add_argument("--fast", action="store_true", help="serve as fast as the client reads")
    p.add_argument("--once", action="store_true", help="stop after the first client got the whole recording")
    p.add_argument("--seconds", type=float, metavar="S", help="stop serving after S seconds")
    p.add_argument("--to-png", metavar="FILE.png", help="write the recording's last picture")
    p.add_argument("--to-video", metavar="FILE.mp4", help="write a video of the recording (.mp4, or .gif)")
    p.add_argument("--video-fps", type=float, default=15.0, help="frames per second of the video")
    p.add_argument("--max-frames", type=int, default=3000, help="at most this many video frames")
    p.add_argument("--json", action="store_true", help="print a summary as JSON")
    p.set_defaults(func=_replay)


def _replay(args: argparse.Namespace) -> int:
    from . import replay
    from .error import Error

    if not os.path.exists(args.fbs):
        return _fail(EXIT_USAGE, f"no such file: {args.fbs}")
    if not args.speed > 0 or not args.video_fps > 0:
        return _fail(EXIT_USAGE, "--speed and --video-fps must be > 0")
    try:
        if args.to_png or args.to_video:
            if args.to_png and not args.to_png.endswith(".png"):
                return _fail(EXIT_USAGE, f"--to-png must end in .png, not {args.to_png!r}")
            summary = replay.convert(
                args.fbs, to_png=args.to_png, to_video=args.to_video, fps=args.video_fps,
                speed=1.0 if args.fast else args.speed, max_frames=args.max_frames,
            )  # fmt: skip
            if (args.to_png and not summary.get("png")) or summary.get("video", {}).get("frames") == 0:
                return _fail(EXIT_PROTOCOL, f"{args.fbs} holds no picture")
            if not args.json:
                if summary.get("png"):
                    print(f"wrote {summary['png']} ({summary['width']}x{summary['height']})")
                if "video" in summary:
                    v = summary["video"]
                    print(f"wrote {v['path']} ({v['frames']} frames at {v['fps']:g} fps, {v['format']}) "
                          f"from {summary['duration_seconds']:.1f} s, {summary['updates']} updates")  # fmt: skip
        else:
            summary = replay.serve(
                args.fbs, host=args.host, port=args.port, speed=None if args.fast else args.speed,
                once=args.once, seconds=args.seconds, announce=lambda line: print(line, flush=True),
            )  # fmt: skip
            if not args.json:
                print(f"served {summary['connections']} connection(s), {summary['completed']} complete", flush=True)
            if summary["errors"]:
                _fail(EXIT_PROTOCOL, "; ".join(summary["errors"][:3]))
    except OSError as exc:
        return _fail(EXIT_CONNECTION, str(exc))
    except Error as exc:
        return _fail(EXIT_PROTOCOL, str(exc))
    if args.json:
        print(json.dumps(summary, indent=2))
    return EXIT_PROTOCOL if summary.get("errors") else EXIT_OK


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="time the in-process decode of an FBS recording",
        description=(
            "Decode each recording in process (the sans-IO protocol plus the decode core, no socket) "
            "--repeat times, and report the run with the least CPU time: MB/s of the encoded stream, "
            "Mpx/s of decoded pixels, µs per rect and updates/s, all per CPU second. "
            "The same measurement as `python -m vncenv.decode`."
        ),
    )
    p.add_argument("fbs", nargs="+", help="FBS recordings")
    p.add_argument("--repeat", type=int, default=3, help="runs per file; the best is reported (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    from .benchmark import bench_fbs, format_result
    from .error import Error

    if args.repeat < 1:
        return _fail(EXIT_USAGE, "--repeat must be at least 1")
    results = []
    for path in args.fbs:
        if not os.path.exists(path):
            return _fail(EXIT_USAGE, f"no such file: {path}")
        try:
            results.append(bench_fbs(path, args.repeat))
        except Error as exc:
            return _fail(EXIT_PROTOCOL, f"{path}: {exc}")
        if not args.json:
            print(format_result(results[-1]), flush=True)
    if args.json:
        print(json.dumps(results if len(results) > 1 else results[0], indent=2))
    return EXIT_OK


def _add_doctor(sub: argparse._SubParsersAction) -> None:
    from .doctor import add_arguments

    p = sub.add_parser(
        "doctor",
        help="check this machine for what vncenv needs; say how to fix it",
        description=(
            "Check the decode core and its inflater, libturbojpeg, Xvnc, x11vnc, the Python packages, "
            "ale-py's ROMs and Docker. Each check says ok, missing (essential) or warn (optional), with "
            "the command that fixes each problem. Exit status 1 when an essential piece is missing."
        ),
    )
    add_arguments(p)
    p.set_defaults(func=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    from .doctor import main as doctor_main

    return doctor_main(args=args)


def _write_json(target: str, data: Any) -> None:
    text = json.dumps(data, indent=2)
    if target == "-":
        print(text)
    else:
        with open(target, "w") as f:
            f.write(text + "\n")


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
    g.add_argument("--password", help="VNC and rewarder password (default: $VNCENV_PASSWORD, else a random one, "
                   "printed); prefer the variable: a command line is visible to every user")
    g.add_argument("--fps", type=float, default=60.0)
    g.add_argument("--mode", choices=["realtime", "sync"], default="realtime")
    g.add_argument("--display", help="X display, e.g. :5 (default: a free one)")
    g.add_argument("--scale", type=int, default=2, help="integer upscaling of the frames")
    g.add_argument("--parent-pid", type=int, help="stop when this process is gone (for remote managers)")
    g.add_argument("--host", default="127.0.0.1",
                   help="address both ports bind to (default 127.0.0.1: loopback only; 0.0.0.0 for every interface)")
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
            host=args.host,
        )  # fmt: skip
    except Error as exc:
        return _fail(EXIT_PROTOCOL, str(exc))


class _BadArguments(Exception):
    """An argument error found before connecting (exit status 2, no stats)."""


def _capture(args: argparse.Namespace) -> int:
    try:
        status, stats = _run_capture(args)
    except _BadArguments as exc:
        return _fail(EXIT_USAGE, str(exc))
    if args.stats_json:
        _write_json(args.stats_json, stats)
    if "error" in stats:
        return _fail(status, stats["error"])
    return EXIT_INTERRUPTED if stats.get("interrupted") else status


def _run_capture(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    """Connect, receive (and record) as ``args`` say; (exit status, stats).  Ctrl-C ends it
    like the time running out, with ``stats["interrupted"]``."""
    from .error import AuthenticationError, ConnectionClosed, Error, ProtocolError, Timeout, UsageError
    from .vnc.address import parse_address

    if args.out and not args.out.endswith((".png", ".npy")):
        raise _BadArguments(f"--out must end in .png or .npy, not {args.out!r}")
    try:
        address = parse_address(args.address)
    except UsageError as exc:
        raise _BadArguments(str(exc)) from None
    from .vnc.session import VNCSession

    password = args.password or address.password or os.environ.get("VNCENV_PASSWORD") or None

    cpu0, wall0 = time.process_time(), time.monotonic()
    session = None
    status, problem, interrupted = EXIT_OK, None, False
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
    except KeyboardInterrupt:
        interrupted = True
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
    if args.record:
        stats["record"] = args.record
    stats["cpu_seconds"] = round(time.process_time() - cpu0, 6)
    stats["wall_seconds"] = round(time.monotonic() - wall0, 6)
    if interrupted:
        stats["interrupted"] = True
    if problem:
        stats["error"] = problem
    return status, stats


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

    parser = argparse.ArgumentParser(
        prog="vncenv",
        description="VNC environments for reinforcement learning.",
        epilog="`vncenv COMMAND --help` describes each command. New here? `vncenv doctor`, then `vncenv demo`.",
    )
    parser.add_argument("--version", action="version", version=f"vncenv {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_demo, _add_list, _add_capture, _add_record, _add_replay, _add_bench, _add_serve, _add_doctor):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vncenv`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
