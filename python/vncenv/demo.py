"""`make demo`: a random agent plays Pong served over VNC, end to end.

It makes ``vncenv/Pong-v0`` with Gymnasium, which starts a local remote --
TigerVNC Xvnc, the gym-core runtime running ALE Pong, and its rewarder --
then plays random actions for a while, showing progress.  At the end it
prints steps/s, frames/s, the reward and the observation lag, and leaves in
``demo-out/``: the last frame as a PNG, the session's FBS recording, and the
stats as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def _progress(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def run(env_id: str, seconds: float, out_dir: Path, mode: str, seed: int = 0) -> dict:
    import gymnasium

    import vncenv  # noqa: F401  (registers the ids)

    from ._png import write_png
    from .decode import BACKEND, INFLATER

    out_dir.mkdir(parents=True, exist_ok=True)
    fbs = out_dir / "session.fbs"
    _progress(f"making {env_id} ({mode} mode): starting Xvnc + the game + its rewarder ...")
    env = gymnasium.make(env_id, mode=mode, scale=2, vnc_kwargs={"encoding": "tight", "record": str(fbs)})
    env.action_space.seed(seed)
    try:
        t0 = time.perf_counter()
        obs, info = env.reset(seed=seed)
        _progress(f"first frame after {time.perf_counter() - t0:.2f} s: {obs.shape[1]}x{obs.shape[0]} RGB")
        steps = episodes = 0
        total_reward = 0.0
        lags: list[float] = []
        start = time.perf_counter()
        next_report = start + 1.0
        first_updates = info["stats.vnc.updates.n"]
        while (now := time.perf_counter()) - start < seconds:
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            steps += 1
            total_reward += reward
            if "lags.observation" in info:
                lags.append(info["lags.observation"][1])
            if "error" in info:
                _progress(f"remote error: {info['error']}")
            if terminated or truncated:
                episodes += 1
                obs, info = env.reset()
            if now >= next_report:
                _progress(f"{now - start:4.1f} s: {steps} steps, reward {total_reward:+.0f}, frame {info.get('frame_id')}")
                next_report += 1.0
        elapsed = time.perf_counter() - start
        updates = info["stats.vnc.updates.n"] - first_updates
        write_png(out_dir / "screenshot.png", obs)
    finally:
        env.close()
    summary = {
        "env": env_id,
        "mode": mode,
        "seconds": round(elapsed, 3),
        "steps": steps,
        "steps_per_second": round(steps / elapsed, 1),
        "frames_per_second": round(updates / elapsed, 1),
        "episodes_finished": episodes,
        "total_reward": total_reward,
        "observation_lag_ms_median": round(float(np.median(lags)) * 1000, 2) if lags else None,
        "observation_lag_ms_p95": round(float(np.percentile(lags, 95)) * 1000, 2) if lags else None,
        "decoder": BACKEND,
        "inflater": INFLATER,
        "screenshot": str(out_dir / "screenshot.png"),
        "recording": str(fbs),
    }
    (out_dir / "stats.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vncenv.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="vncenv/Pong-v0")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--mode", choices=["sync", "realtime"], default="sync")
    parser.add_argument("--out", default=os.environ.get("VNCENV_DEMO_OUT", "demo-out"))
    args = parser.parse_args(argv)
    summary = run(args.env, args.seconds, Path(args.out), args.mode)
    _progress("done")
    for key, value in summary.items():
        print(f"  {key:28s} {value}")
    return 0 if summary["steps"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
