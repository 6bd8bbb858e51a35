"""Record a real rewarder exchange on loopback, for the rewarder fuzz seeds.

Runs a ``RewarderServer`` and a ``RewarderClient`` in this process, each with
its own ``RewardLog``, and drives a short session through them: describe,
calibration pings, a client reset (one refused, one granted), rewards with
``info``, ``done`` and the remote's own reset, text, an observation,
actions, stale rewards of an old episode and a describe change.  Writes the
frames each side *received* (exactly as they went over the wire) as JSONL:
one ``{"side": "client"|"server", "frame": <the message>}`` per line.

    python tests/fuzz/record_rewarder.py build/fuzz-rewarder.jsonl
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile

import orjson

from vncenv.rewarder import RemoteError, RewarderClient, RewarderServer, read_log

PASSWORD = "fuzz-seed-pass"


def record() -> list[tuple[str, bytes]]:
    """``(side, frame)`` for every message received by the client or the server."""
    logging.getLogger("vncenv.rewarder").setLevel(logging.CRITICAL)  # the refused reset is on purpose
    with tempfile.TemporaryDirectory() as tmp:
        server_log = os.path.join(tmp, "server.jsonl")
        client_log = os.path.join(tmp, "client.jsonl")

        def on_reset(env_id, seed, fps):
            if seed == 13:
                raise ValueError("seed 13 is refused by this fuzz recorder")

        actions = []
        server = RewarderServer(
            port=0, password=PASSWORD, env_id="FuzzEnv-v0", fps=30.0, on_reset=on_reset,
            on_action=actions.append, log=server_log,
        )
        server.start()
        try:
            client = RewarderClient(
                "127.0.0.1", server.port, password=PASSWORD, log=client_log, calibration_pings=2, start_timeout=10.0
            )
            client.start(timeout=10.0)
            try:
                client.ping()
                try:
                    client.reset(seed=13, timeout=10.0)
                except RemoteError:
                    pass
                episode = client.reset(seed=7, fps=30.0, timeout=10.0)
                server.publish_reward(1.0, info={"frame_id": 1, "lives": 3})
                server.publish_reward(0.5)
                server.publish_text("level 2")
                server.publish_observation({"ram": [1, 2, 3], "score": 12.5})
                client.send_action({"action": 3})
                client.send_action({"keys": ["Left", "space"]})
                server.publish_reward(-2.25, done=True, info={"lives": 0})
                with server.resetting():
                    pass
                server.publish_reward(3.0)
                server.publish_reward(4.0, episode_id=episode)  # stale: an old episode
                server.publish_describe(fps=60.0)
                server.publish_reward(0.0, done=True)
                client.wait_received("v0.env.reward", 5, timeout=10.0)  # all 6 arrived
                client.pop()
                client.ping()
            finally:
                client.close()
        finally:
            server.close()
        frames = []
        for side, path in (("client", client_log), ("server", server_log)):
            for entry in read_log(path):
                if entry["direction"] == "recv" and "message" in entry:
                    frames.append((side, orjson.dumps(entry["message"])))
        return frames


def main(argv: list[str]) -> int:
    out = argv[0] if argv else "build/fuzz-rewarder.jsonl"
    frames = record()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "wb") as f:
        for side, frame in frames:
            f.write(orjson.dumps({"side": side, "frame": orjson.loads(frame)}) + b"\n")
    print(f"{len(frames)} frames in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
