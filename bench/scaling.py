"""Concurrent decoding in one Python process: N = 1, 2, 4, 8 streams.

    python3 bench/scaling.py inproc FILE.fbs [--n 1 2 4 8] [--reps 3] [--min-seconds 0.3]
    python3 bench/scaling.py session FILE.fbs --encoding E [--quality Q] [...]

* ``inproc``: N threads, each feeding its own copy of the recording (after
  its handshake) to its own ``vncenv.decode.StreamDecoder``s, all released
  together by a barrier.  A short recording is decoded several times a
  thread, by decoders made beforehand, so that a pass lasts about
  ``--min-seconds`` (one untimed pass picks the count, the same for every
  N): the steady state of long-lived streams, not the scheduler's start-up
  noise on a 40 ms pass or the first touch of new decoders' memory.
* ``session``: N replay servers (bench/replay_server.py, one process each)
  and N ``VNCSession`` clients in this process, each reading its own server
  until it closes.

Aggregate throughput is N x passes x stream bytes / wall time from the start of the
first to the end of the last; the process's CPU seconds over the same span
are reported too.  The N values of one repetition run back to back and the
repetitions alternate; medians are reported.  Prints one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time

from procstat import cpu_seconds  # bench/, this script's folder

HERE = os.path.dirname(os.path.abspath(__file__))


def run_inproc(data: bytes, n: int, passes: int) -> dict:
    """N threads, each decoding its own copy of the stream ``passes`` times
    with fresh decoders; the decoders are made and past the handshake first."""
    from inproc import past_handshake  # bench/ (the clock starts after the handshake there too)

    copies = [bytes(bytearray(data)) for _ in range(n)]
    made = [[past_handshake(data) for _ in range(passes)] for _ in range(n)]
    decoders = [[decoder for decoder, _ in row] for row in made]
    start = made[0][0][1]
    barrier = threading.Barrier(n + 1)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        barrier.wait()
        try:
            for decoder in decoders[i]:
                decoder.feed(memoryview(copies[i])[start:])
        except BaseException as exc:  # reported
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    gc.collect()
    cpu0 = time.process_time()
    barrier.wait()
    wall0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    if errors:
        raise errors[0]
    return {"n": n, "passes": passes, "wall_seconds": wall, "cpu_seconds": cpu,
            "bytes": n * passes * (len(data) - start),
            "updates": sum(d.decoder.updates for row in decoders for d in row)}  # fmt: skip


def inproc_passes(data: bytes, min_seconds: float) -> int:
    """Passes per thread for about ``min_seconds`` of decoding (1 to 16),
    from one untimed single-stream pass."""
    one = run_inproc(data, 1, 1)["wall_seconds"]
    return max(1, min(16, math.ceil(min_seconds / max(one, 1e-6))))


def _start_server(path: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "replay_server.py"), path],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"replay server did not start: {line!r}")
    return proc, int(line.split()[1])


def _stop_server(proc: subprocess.Popen) -> None:
    try:
        proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_session(servers: list[int], options: dict, nbytes: int, server_pids: list[int]) -> dict:
    from vncenv.error import ConnectionClosed
    from vncenv.vnc.session import VNCSession

    n = len(servers)
    server_cpu0 = sum(cpu_seconds(pid) for pid in server_pids)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    sessions = [VNCSession("127.0.0.1", port, **options) for port in servers]
    for s in sessions:
        s.start(timeout=20)
    for s in sessions:
        try:
            s.wait_for_update(timeout=600, after=1 << 60)
        except ConnectionClosed:
            pass
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    server_cpu = sum(cpu_seconds(pid) for pid in server_pids) - server_cpu0
    stats = [s.stats() for s in sessions]
    for s in sessions:
        s.close()
    bad = [s.error for s in sessions if s.error is not None]
    if bad:
        raise RuntimeError(f"session failed: {bad[0]!r}")
    return {"n": n, "wall_seconds": wall, "cpu_seconds": cpu, "server_cpu_seconds": server_cpu,
            "bytes": sum(st.bytes for st in stats),
            "expected_bytes": n * nbytes, "updates": sum(st.updates for st in stats)}  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["inproc", "session"])
    p.add_argument("fbs")
    p.add_argument("--n", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--encoding", default="tight")
    p.add_argument("--quality", type=int)
    p.add_argument("--min-seconds", type=float, default=0.3,
                   help="inproc: each thread decodes the stream enough times for about this long")
    args = p.parse_args()
    samples: dict[int, list[dict]] = {n: [] for n in args.n}
    nbytes = passes = 0
    if args.mode == "inproc":
        from vncenv.vnc.fbs import FBSReader

        with FBSReader(args.fbs) as r:
            data = b"".join(d for _, d in r)
        passes = inproc_passes(data, args.min_seconds)
    if args.mode == "session":
        from vncenv.vnc.fbs import FBSReader

        with FBSReader(args.fbs) as r:
            nbytes = sum(len(d) for _, d in r)
        servers = [_start_server(args.fbs) for _ in range(max(args.n))]
    try:
        for _ in range(args.reps):
            for n in args.n:
                if args.mode == "inproc":
                    s = run_inproc(data, n, passes)
                else:
                    opts = {"encoding": args.encoding, "quality_level": args.quality}
                    used = servers[:n]
                    s = run_session([port for _, port in used], opts, nbytes, [proc.pid for proc, _ in used])
                s["mb_per_s"] = s["bytes"] / 1e6 / s["wall_seconds"]
                samples[n].append(s)
    finally:
        if args.mode == "session":
            for proc, _ in servers:
                _stop_server(proc)
    out = {"mode": args.mode, "fbs": args.fbs, "passes": passes, "samples": {str(n): v for n, v in samples.items()}, "median": {}}
    base = statistics.median(x["mb_per_s"] for x in samples[args.n[0]])
    for n in args.n:
        mbs = statistics.median(x["mb_per_s"] for x in samples[n])
        out["median"][str(n)] = {
            "mb_per_s": mbs,
            "wall_seconds": statistics.median(x["wall_seconds"] for x in samples[n]),
            "cpu_seconds": statistics.median(x["cpu_seconds"] for x in samples[n]),
            "speedup": mbs / base,
        }
        if args.mode == "session":
            out["median"][str(n)]["server_cpu_seconds"] = statistics.median(
                x["server_cpu_seconds"] for x in samples[n]
            )
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
