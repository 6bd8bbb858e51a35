"""Serve one FBS recording over loopback in its own process, for the benchmark.

    python3 bench/replay_server.py FILE.fbs [--speed S]

Runs :class:`vncenv.vnc.fbs.FBSReplayServer` (as fast as the client reads
unless ``--speed``), prints ``PORT <n>`` on stdout once listening, and
serves every connection the whole recording until SIGTERM or until stdin
closes.  Running it apart from the client keeps the server's CPU out of the
client's figures (bench/run.py pins it to another core).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from vncenv.vnc.fbs import FBSReplayServer


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("fbs")
    parser.add_argument("--speed", type=float, default=None)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    with FBSReplayServer(args.fbs, port=args.port, speed=args.speed, linger=3600.0) as server:
        print(f"PORT {server.port}", flush=True)

        def watch_stdin() -> None:
            try:
                sys.stdin.read()
            finally:
                done.set()

        threading.Thread(target=watch_stdin, daemon=True).start()
        done.wait()
        errors = list(server.errors)
    if errors:
        print("\n".join(errors[:5]), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
