"""`make demo` / `vncenv demo`: a random agent plays a game served over VNC, end to end.

It makes ``vncenv/Pong-v0`` (or ``--env``) with Gymnasium, which starts one
local remote -- TigerVNC Xvnc, the gym-core runtime drawing the game on it,
and its rewarder -- then plays random actions for ``--seconds`` (30 by
default) with a live status line (steps/s, frames/s, reward, lags).  At the
end it prints a summary, stops everything it started, and leaves in
``--out`` (``demo-out/``):

* ``screenshot.png`` -- the last observation;
* ``video.mp4`` -- the run as the agent saw it, sampled at ``--video-fps``
  (``video.gif`` when ffmpeg cannot be used);
* ``session.fbs`` -- the VNC session's recording (``vncenv replay`` plays it);
* ``stats.json`` -- the summary.

Exit status: 0 when the agent played (steps > 0) and no error stopped the
run; 1 otherwise (the reason is on stderr and in ``stats.json``); 2 for bad
arguments; 130 after Ctrl-C (the files are still written).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["resolve_env_id", "add_arguments", "run", "main"]

DESCRIPTION = (
    "A random agent plays a game served over VNC: one local remote (Xvnc, the game, its rewarder) "
    "starts, the agent plays for --seconds with a live status line, and a summary follows. "
    "Writes screenshot.png, video.mp4 (or video.gif), session.fbs and stats.json to --out."
)
DEFAULT_ENV = "vncenv/Pong-v0"
DEFAULT_SECONDS = 30.0


def resolve_env_id(name: str) -> str:
    """The registered ``vncenv/...`` id that ``name`` means.

    Accepts the full id (``vncenv/Breakout-v0``), the short name
    (``Breakout``, ``breakout``, ``Breakout-v0``) and the runtime's id
    (``ALE/Breakout-v5``, ``CartPole-v1``).

    :raises vncenv.error.UsageError: no such env (with the closest names).
    """
    from .envs.registration import RUNTIME_IDS
    from .error import UsageError

    name = name.strip()
    if name in RUNTIME_IDS:
        return name
    by_runtime = {runtime.lower(): env_id for env_id, runtime in RUNTIME_IDS.items()}
    if name.lower() in by_runtime:
        return by_runtime[name.lower()]
    short = {env_id[len("vncenv/") : -len("-v0")].lower(): env_id for env_id in RUNTIME_IDS}
    key = name.lower()
    key = key[len("vncenv/") :] if key.startswith("vncenv/") else key
    key = key[: -len("-v0")] if key.endswith("-v0") else key
    if key in short:
        return short[key]
    close = difflib.get_close_matches(key, list(short), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(short[c] for c in close)}?" if close else ""
    raise UsageError(f"unknown env {name!r}{hint} (`vncenv list` shows every id)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's options (shared by ``python -m vncenv.demo`` and ``vncenv demo``)."""
    parser.add_argument("--env", default=DEFAULT_ENV,
                        help="an id or short name: Pong, Breakout, CartPole, ALE/Pong-v5 ... (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS,
                        help="how long to play (default: %(default)s)")
    parser.add_argument("--mode", choices=["sync", "realtime"], default="sync",
                        help="sync: one game step per action, as fast as it goes; realtime: the game runs at --fps")
    parser.add_argument("--fps", type=float, default=60.0, help="the remote's frame rate in realtime mode")
    parser.add_argument("--scale", type=int, default=2, help="the remote's upscaling of the game's frames")
    parser.add_argument("--encoding", choices=["tight", "zrle", "raw"], default="tight", help="VNC encoding")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.environ.get("VNCENV_DEMO_OUT", "demo-out"),
                        help="output folder (default: $VNCENV_DEMO_OUT or %(default)s)")
    parser.add_argument("--video", choices=["auto", "mp4", "gif", "none"], default="auto",
                        help="video format: auto = MP4, or GIF when ffmpeg is unusable")
    parser.add_argument("--video-fps", type=float, default=15.0, help="frames per second of the video")
    parser.add_argument("--no-record", action="store_true", help="do not keep the session's FBS recording")
    parser.add_argument("--plain", action="store_true",
                        help="plain progress lines once a second, even on a terminal")  # fmt: skip


# -- the status line ------------------------------------------------------------


class _Window:
    """Rates and medians over the last ``span`` seconds."""

    def __init__(self, span: float = 1.0) -> None:
        self.span = span
        self.events: deque[tuple[float, int, int]] = deque()  # (time, steps, frames)
        self.lags: deque[tuple[float, float]] = deque()
        self.rlags: deque[tuple[float, float]] = deque()

    def add(self, now: float, steps: int, frames: int, lag: float | None, rlag: float | None) -> None:
        self.events.append((now, steps, frames))
        if lag is not None:
            self.lags.append((now, lag))
        if rlag is not None:
            self.rlags.append((now, rlag))
        for q in (self.events, self.lags, self.rlags):
            while q and q[0][0] < now - self.span:
                q.popleft()

    def rates(self) -> tuple[float, float]:
        if len(self.events) < 2:
            return 0.0, 0.0
        (t0, s0, f0), (t1, s1, f1) = self.events[0], self.events[-1]
        dt = max(t1 - t0, 1e-9)
        return (s1 - s0) / dt, (f1 - f0) / dt

    @staticmethod
    def median_ms(q: deque[tuple[float, float]]) -> float | None:
        return float(np.median([v for _, v in q])) * 1000 if q else None


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


class _Status:
    """A live rich status line on a terminal; plain lines once a second otherwise."""

    def __init__(self, plain: bool) -> None:
        self._live: Any = None
        self._next_line: float | None = None
        if not plain and sys.stdout.isatty():
            try:
                from rich.console import Console
                from rich.live import Live
                from rich.text import Text
            except ImportError:  # rich is in the demo extra; plain lines without it
                return
            self._text = Text
            self._live = Live(Text(""), console=Console(), refresh_per_second=8, transient=False)
            self._live.start()

    def update(self, now: float, line: str) -> None:
        if self._live is not None:
            self._live.update(self._text(line, style="bold", no_wrap=True, overflow="ellipsis"))
        elif self._next_line is None:
            self._next_line = now + 1.0  # the first line after a second's worth of rates
        elif now >= self._next_line:
            print(line, flush=True)
            self._next_line += 1.0

    def say(self, message: str) -> None:
        """A line above the status line."""
        if self._live is not None:
            self._live.console.print(f"[demo] {message}", markup=False, highlight=False)
        else:
            _say(message)

    def close(self) -> None:
        if self._live is not None:
            live, self._live = self._live, None
            live.stop()


def _say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def _rewarder_lag(info: dict[str, Any]) -> float | None:
    """Upper bound of the rewarder message lag, in seconds (a pair, or {'rewarder_message': pair})."""
    lag = info.get("lags.rewarder_message")
    if isinstance(lag, dict):
        lag = lag.get("rewarder_message")
    if isinstance(lag, (tuple, list)) and len(lag) == 2 and lag[1] is not None:
        return float(lag[1])
    return None


def _ms_stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    a = np.asarray(values) * 1000
    return {"median": round(float(np.median(a)), 3), "p95": round(float(np.percentile(a, 95)), 3),
            "max": round(float(a.max()), 3)}  # fmt: skip


def _leftover_processes() -> list[int]:
    """Live processes below this one (from /proc; empty where there is none)."""
    me = os.getpid()
    children: dict[int, list[int]] = {}
    states: dict[int, str] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        states[int(entry)] = fields[0]
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [me]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return sorted(p for p in found if states.get(p) != "Z")


def _wait_no_children(timeout: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := _leftover_processes()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


# -- the run -----------------------------------------------------------------------


def run(
    env_id: str = DEFAULT_ENV,
    seconds: float = DEFAULT_SECONDS,
    out_dir: str | os.PathLike[str] = "demo-out",
    *,
    mode: str = "sync",
    fps: float = 60.0,
    scale: int = 2,
    encoding: str = "tight",
    seed: int = 0,
    video: str = "auto",
    video_fps: float = 15.0,
    record: bool = True,
    plain: bool = False,
) -> dict[str, Any]:
    """Play ``seconds`` of random actions on ``env_id``; write the outputs; return the summary.

    Never raises for a failing remote: the summary's ``error`` says what went
    wrong (and ``exit_status`` is then 1).
    """
    import gymnasium

    from . import __version__
    from ._png import write_png
    from .decode import BACKEND, INFLATER
    from .envs.registration import RUNTIME_IDS
    from .error import Error
    from .video import VideoWriter

    env_id = resolve_env_id(env_id)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("screenshot.png", "video.mp4", "video.gif", "session.fbs", "stats.json"):
        (out / stale).unlink(missing_ok=True)
    fbs = out / "session.fbs"
    vnc_kwargs: dict[str, Any] = {"encoding": encoding}
    if record:
        vnc_kwargs["record"] = str(fbs)

    summary: dict[str, Any] = {
        "env": env_id,
        "runtime_env": RUNTIME_IDS[env_id],
        "mode": mode,
        "seconds_asked": seconds,
        "vncenv": __version__,
        "decoder": BACKEND,
        "inflater": INFLATER,
        "encoding": encoding,
    }
    steps = frames = episodes = remote_errors = 0
    total_reward = episode_reward = 0.0
    episode_rewards: list[float] = []
    lags: list[float] = []
    rlags: list[float] = []
    errors: list[str] = []
    error: str | None = None
    interrupted = False
    obs: np.ndarray | None = None
    vnc_stats: dict[str, int] = {}
    start_seconds = elapsed = 0.0
    writer: VideoWriter | None = None
    status: _Status | None = None

    _say(f"making {env_id} ({RUNTIME_IDS[env_id]}, {mode} mode): starting Xvnc + the game + its rewarder ...")
    t0 = time.perf_counter()
    env = gymnasium.make(env_id, mode=mode, fps=fps, scale=scale, vnc_kwargs=vnc_kwargs)
    try:
        env.action_space.seed(seed)
        obs, info = env.reset(seed=seed)
        start_seconds = time.perf_counter() - t0
        _say(f"first frame after {start_seconds:.2f} s: {obs.shape[1]}x{obs.shape[0]} RGB; playing for {seconds:g} s")
        if video != "none":
            writer = VideoWriter(out / "video.mp4", video_fps, fmt=video)
            if writer.fallback_reason:
                _say(f"no MP4 ({writer.fallback_reason}); writing a GIF")
            writer.append(obs)
        status = _Status(plain)
        last_n = info.get("stats.vnc.updates.n", 0)
        window = _Window()
        start = time.perf_counter()
        next_frame = start + 1.0 / video_fps
        while (now := time.perf_counter()) - start < seconds:
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            steps += 1
            total_reward += reward
            episode_reward += reward
            n = info.get("stats.vnc.updates.n")
            if n is not None:  # a replaced remote starts counting again
                frames += n - last_n if n >= last_n else n
                last_n = n
            lag = info.get("lags.observation")
            lag_hi = float(lag[1]) if lag else None
            rlag = _rewarder_lag(info)
            if lag_hi is not None:
                lags.append(lag_hi)
            if rlag is not None:
                rlags.append(rlag)
            window.add(now, steps, frames, lag_hi, rlag)
            if writer is not None and now >= next_frame:
                writer.append(obs)
                next_frame = max(next_frame + 1.0 / video_fps, now)
            if "error" in info:
                remote_errors += 1
                errors.append(str(info["error"]))
                status.say(f"the remote failed: {info['error']}; replacing it")
            if terminated or truncated:
                episodes += 1
                episode_rewards.append(episode_reward)
                episode_reward = 0.0
                obs, info = env.reset()
                last_n = info.get("stats.vnc.updates.n", 0)
            sps, fps_now = window.rates()
            status.update(now, (
                f"{now - start:5.1f}/{seconds:g} s  {sps:4.0f} steps/s  {fps_now:4.0f} fps  "
                f"reward {total_reward:+.0f} (ep {episodes + 1})  "
                f"lag obs {_num(window.median_ms(window.lags))} rew {_num(window.median_ms(window.rlags))} ms"
            ))  # fmt: skip
        elapsed = time.perf_counter() - start
        if steps == 0:
            error = "no step was played"
    except KeyboardInterrupt:
        interrupted = True
        elapsed = time.perf_counter() - start if steps else 0.0
    except Error as exc:
        error = str(exc)
        elapsed = time.perf_counter() - t0
    finally:
        if status is not None:
            status.close()
        unwrapped = env.unwrapped
        vnc = getattr(unwrapped, "vnc", None)
        if vnc is not None:
            s = vnc.stats()
            vnc_stats = {"updates": s.updates, "rects": s.rects, "bytes": s.bytes, "pixels": s.pixels}
        env.close()
        if writer is not None:
            writer.close()
    left = _wait_no_children()

    outputs: dict[str, str] = {}
    if obs is not None and steps:
        write_png(out / "screenshot.png", obs)
        outputs["screenshot"] = str(out / "screenshot.png")
    if writer is not None and writer.frames:
        outputs["video"] = str(writer.path)
    if record and fbs.exists():
        outputs["recording"] = str(fbs)
    outputs["stats"] = str(out / "stats.json")
    elapsed = max(elapsed, 1e-9)
    summary.update(
        start_seconds=round(start_seconds, 3),
        seconds=round(elapsed, 3),
        steps=steps,
        steps_per_second=round(steps / elapsed, 1),
        frames_received=frames,
        frames_per_second=round(frames / elapsed, 1),
        episodes_finished=episodes,
        episode_rewards=episode_rewards,
        total_reward=total_reward,
        observation_lag_ms=_ms_stats(lags),
        rewarder_lag_ms=_ms_stats(rlags),
        vnc=vnc_stats,
        remote_errors=remote_errors,
        remote_error_messages=errors[:5],
        video=None if writer is None else {
            "path": str(writer.path), "format": writer.format, "frames": writer.frames, "fps": writer.fps,
            "fallback_reason": writer.fallback_reason,
        },
        outputs=outputs,
        leftover_processes=left,
        interrupted=interrupted,
        error=error,
    )  # fmt: skip
    if left and error is None:
        summary["error"] = error = f"processes left running: {left}"
    summary["exit_status"] = 130 if interrupted else (1 if error is not None else 0)
    (out / "stats.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _print_summary(summary: dict[str, Any]) -> None:
    lag, rlag = summary["observation_lag_ms"] or {}, summary["rewarder_lag_ms"] or {}
    video = summary["video"] or {}
    rows = [
        ("env", f"{summary['env']} ({summary['runtime_env']}, {summary['mode']} mode)"),
        ("played", f"{summary['seconds']} s after a {summary['start_seconds']} s start"),
        ("steps", f"{summary['steps']} ({summary['steps_per_second']} steps/s)"),
        ("frames received", f"{summary['frames_received']} ({summary['frames_per_second']} frames/s)"),
        ("reward", f"{summary['total_reward']:+g} over {summary['episodes_finished']} finished episode(s)"),
        ("observation lag", f"median {lag.get('median', '-')} ms, p95 {lag.get('p95', '-')} ms"),
        ("rewarder lag", f"median {rlag.get('median', '-')} ms, p95 {rlag.get('p95', '-')} ms"),
        ("decoder", f"{summary['decoder']} (inflater {summary['inflater']}), {summary['encoding']} encoding"),
    ]
    if video:
        rows.append(("video", f"{video['path']} ({video['frames']} frames at {video['fps']:g} fps, {video['format']})"))
    for key in ("screenshot", "recording", "stats"):
        if key in summary["outputs"]:
            rows.append((key, summary["outputs"][key]))
    if summary["remote_errors"]:
        rows.append(("remote errors", str(summary["remote_errors"])))
    for key, value in rows:
        print(f"  {key:17s} {value}")


def run_from_args(args: argparse.Namespace) -> int:
    """Run the demo for parsed :func:`add_arguments` options; the exit status."""
    from .error import Error, UsageError

    if not args.seconds > 0:
        print("vncenv demo: --seconds must be > 0", file=sys.stderr)
        return 2
    if not args.video_fps > 0:
        print("vncenv demo: --video-fps must be > 0", file=sys.stderr)
        return 2
    try:
        summary = run(
            args.env, args.seconds, args.out, mode=args.mode, fps=args.fps, scale=args.scale,
            encoding=args.encoding, seed=args.seed, video=args.video, video_fps=args.video_fps,
            record=not args.no_record, plain=args.plain,
        )  # fmt: skip
    except UsageError as exc:
        print(f"vncenv demo: {exc}", file=sys.stderr)
        return 2
    except (Error, ImportError) as exc:
        print(f"vncenv demo: {exc} (`vncenv doctor` checks the setup)", file=sys.stderr)
        return 1
    _say("done" if summary["error"] is None else "stopped")
    _print_summary(summary)
    if summary["error"] is not None:
        print(f"vncenv demo: {summary['error']} (`vncenv doctor` checks the setup)", file=sys.stderr)
    return summary["exit_status"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vncenv.demo",
        description=DESCRIPTION,
    )
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
