"""A random agent plays vncenv/Pong-v0 for a few hundred steps and prints its reward.

    python examples/random_agent.py                 # 500 steps of Pong
    python examples/random_agent.py --env Breakout --steps 200

`gymnasium.make` builds nothing yet; the first `reset` starts a local remote
(TigerVNC Xvnc, the game drawn on it, and its rewarder) and connects to it;
`close` stops it.
"""

from __future__ import annotations

import argparse
import time

import gymnasium

import vncenv  # noqa: F401  (registers the vncenv/... ids)
from vncenv.demo import resolve_env_id


def main() -> None:
    parser = argparse.ArgumentParser(description="A random agent on a vncenv env.")
    parser.add_argument("--env", default="vncenv/Pong-v0", help="an id or short name (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    env_id = resolve_env_id(args.env)
    env = gymnasium.make(env_id)
    env.action_space.seed(args.seed)
    total, episodes = 0.0, 0
    try:
        obs, info = env.reset(seed=args.seed)
        print(f"{env_id}: observations {obs.shape} {obs.dtype}, actions {env.action_space}")
        start = time.perf_counter()
        for _ in range(args.steps):
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            total += reward
            if terminated or truncated:
                episodes += 1
                obs, info = env.reset()
        seconds = time.perf_counter() - start
    finally:
        env.close()
    print(f"{args.steps} steps in {seconds:.1f} s ({args.steps / seconds:.0f} steps/s): "
          f"total reward {total:+g}, {episodes} episode(s) finished")  # fmt: skip


if __name__ == "__main__":
    main()
