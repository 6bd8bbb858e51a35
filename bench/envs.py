"""Gymnasium API bench: steps/s, action-to-frame latency, step() overhead per remote.

    python bench/envs.py [--remotes 1 4 8] [--modes sync realtime] [--steps 300]
                         [--scale 4] [--json bench/out/envs.json]

For each number of local remotes N and each mode, a ``VNCVectorEnv`` of N
Pong remotes (ALE/Pong-v5, frames ``scale`` x 210x160, i.e. 640x840 at the
default scale 4) is reset, warmed up, then stepped ``--steps`` times with
random actions.  Reported per run:

* steps/s: batch steps a second, and env steps (N x batch) a second;
* step() overhead per remote: CPU time of the calling thread inside
  ``step()`` (``time.thread_time``: blocking waits for the remotes use no
  CPU and so are excluded), divided by N; median over the steps; and, for
  scale, the CPU time of one more copy of a frame (``snapshot_into``) made
  right after the step: the one copy each observation needs;
* action-to-frame latency (N = 1): sync mode: the wall time of one step,
  from sending the action to holding the frame it produced; realtime: the
  action probe's ``lags.action`` (key press to the runtime applying it) plus
  ``lags.observation`` (frame drawn to frame held), medians of the upper bounds.

Remotes run on the same 2-core machine as the agent, so steps/s measures the
whole system; the overhead figure is the agent's own share.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from vncenv.envs.vector import VNCVectorEnv


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def run(n: int, mode: str, steps: int, scale: int, fps: float) -> dict:
    envs = VNCVectorEnv("ALE/Pong-v5", num_envs=n, mode=mode, fps=fps, scale=scale, start_timeout=180)
    rng = np.random.default_rng(0)
    try:
        t0 = time.perf_counter()
        envs.reset(seed=0)
        ready = time.perf_counter() - t0
        for _ in range(20):  # warm-up
            envs.step(rng.integers(0, 6, n))
        cpu, wall, action_lags, obs_lags, errors, copies = [], [], [], [], 0, []
        first = envs.envs[0]
        scratch = np.empty(first.picture_shape, np.uint8)
        start = time.perf_counter()
        for _ in range(steps):
            actions = rng.integers(0, 6, n)
            c0, w0 = time.thread_time(), time.perf_counter()
            _, _, _, _, infos = envs.step(actions)
            cpu.append(time.thread_time() - c0)
            wall.append(time.perf_counter() - w0)
            c0 = time.thread_time()  # what one frame copy costs right now (its share of the step)
            first.vnc.snapshot_into(scratch)
            copies.append(time.thread_time() - c0)
            errors += int(np.sum(infos.get("_error", 0)))
            for key, out in (("lags.action", action_lags), ("lags.observation", obs_lags)):
                if key in infos:
                    mask = infos[f"_{key}"]
                    out.extend(float(lag[1]) for lag, m in zip(infos[key], mask) if m and lag is not None)
        elapsed = time.perf_counter() - start
        shape = envs.single_observation_space.shape
    finally:
        envs.close()
    result = {
        "remotes": n,
        "mode": mode,
        "frame": f"{shape[1]}x{shape[0]}",
        "steps": steps,
        "seconds": round(elapsed, 3),
        "batch_steps_per_s": round(steps / elapsed, 1),
        "env_steps_per_s": round(n * steps / elapsed, 1),
        "step_cpu_ms_per_remote_median": round(statistics.median(cpu) / n * 1000, 4),
        "step_cpu_ms_per_remote_p90": round(float(np.percentile(cpu, 90)) / n * 1000, 4),
        "frame_copy_ms_median": round(statistics.median(copies) * 1000, 4),
        "startup_s": round(ready, 2),
        "errors": errors,
    }
    if n == 1:
        if mode == "sync":
            result["action_to_frame_ms_median"] = round(statistics.median(wall) * 1000, 2)
            result["action_to_frame_ms_p95"] = round(float(np.percentile(wall, 95)) * 1000, 2)
        elif action_lags and obs_lags:
            result["lags_action_ms_median"] = round(_median(action_lags) * 1000, 2)
            result["lags_observation_ms_median"] = round(_median(obs_lags) * 1000, 2)
            result["action_to_frame_ms_median"] = round((_median(action_lags) + _median(obs_lags)) * 1000, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--remotes", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--modes", nargs="+", default=["sync", "realtime"], choices=["sync", "realtime"])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--fps", type=float, default=60.0)
    parser.add_argument("--json", default="bench/out/envs.json")
    args = parser.parse_args()
    results = []
    for n in args.remotes:
        for mode in args.modes:
            r = run(n, mode, args.steps, args.scale, args.fps)
            print(json.dumps(r), flush=True)
            results.append(r)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "args": vars(args), "results": results}, indent=1))


if __name__ == "__main__":
    main()
