"""Remotes bench: time to first frame, CPU per remote at 60 fps, sync steps/s.

    python bench/remotes.py [--remotes 1 8] [--seconds 10] [--steps 1000]

* time to first frame: from ``build(N)`` until every remote's first
  framebuffer update has arrived at a connected client;
* CPU per remote at 60 fps: CPU seconds used by each remote's processes
  (``vncenv serve`` + Xvnc, from /proc) per wall second, with a client
  connected and receiving (Tight JPEG, realtime Pong);
* sync steps/s: Pong with one remote in sync mode, a client that sends one
  action, waits for its reward and for the frame with its id (metadata pixels).
"""

from __future__ import annotations

import argparse
import json
import os
import time

from procstat import CLK_TCK, stat_fields

from vncenv.remotes import build
from vncenv.rewarder import RewarderClient
from vncenv.runtimes.metadata import decode_strip
from vncenv.vnc.session import VNCSession


def _tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its descendants."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = stat_fields(entry)
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += times.get(p, 0.0)
        todo.extend(children.get(p, []))
    return total


def first_frame(n: int) -> float:
    t0 = time.perf_counter()
    with build(n, env_id="ALE/Pong-v5", mode="realtime", scale=2) as manager:
        remotes = manager.ready(timeout=120)
        sessions = [VNCSession.connect(r.host, r.vnc_port, password=r.password, encoding="tight", quality_level=8)
                    for r in remotes]  # fmt: skip
        for s in sessions:
            s.wait_for_update(timeout=30, after=0)
        elapsed = time.perf_counter() - t0
        for s in sessions:
            s.close()
    return elapsed


def cpu_per_remote(seconds: float) -> float:
    with build(1, env_id="ALE/Pong-v5", mode="realtime", scale=2, fps=60) as manager:
        (remote,) = manager.ready(timeout=60)
        pid = manager._processes[0].popen.pid  # the remote's process tree
        with VNCSession.connect(remote.host, remote.vnc_port, password=remote.password, encoding="tight",
                                quality_level=8, idle_pause=None) as session:  # fmt: skip  (it sleeps, reading nothing)
            session.wait_for_update(timeout=10)
            cpu0, t0 = _tree_cpu(pid), time.perf_counter()
            time.sleep(seconds)
            return (_tree_cpu(pid) - cpu0) / (time.perf_counter() - t0)


def sync_steps(steps: int, scale: int = 1) -> float:
    with build(1, env_id="ALE/Pong-v5", mode="sync", scale=scale) as manager:
        (r,) = manager.ready(timeout=60)
        with VNCSession.connect(r.host, r.vnc_port, password=r.password, encoding="zrle") as vnc, \
                RewarderClient.connect(r.host, r.rewarder_port, password=r.password, start_timeout=20) as rw:  # fmt: skip
            rw.reset("ALE/Pong-v5", seed=0, timeout=20)
            t0 = time.perf_counter()
            for i in range(steps):
                before = rw.stats()["received"].get("v0.env.reward", 0)
                rw.send_action({"action": i % 6})
                rw.wait_for(lambda c: c.stats()["received"].get("v0.env.reward", 0) > before, timeout=10, poll=0.0002)
                frame_id = rw.pop()[2]["env_info"]["frame_id"]
                while (meta := decode_strip(vnc.snapshot())) is None or meta.frame_id < frame_id:
                    vnc.wait_for_update(timeout=5)
            return steps / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--remotes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    results = {f"first_frame_s_{n}": round(first_frame(n), 3) for n in args.remotes}
    results["cpu_per_remote_at_60fps"] = round(cpu_per_remote(args.seconds), 3)
    results["sync_steps_per_s_scale1"] = round(sync_steps(args.steps, 1), 1)
    results["sync_steps_per_s_scale2"] = round(sync_steps(args.steps, 2), 1)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
