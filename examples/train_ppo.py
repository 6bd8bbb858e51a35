"""Train Stable-Baselines3 PPO on vncenv/Pong-v0, on the CPU, for a few thousand steps.

    python examples/train_ppo.py                  # 2000 steps
    python examples/train_ppo.py --steps 20000 --save ppo_pong.zip

The agent sees the game only through VNC: (210, 160, 3) uint8 RGB frames.
Gymnasium's own wrappers make them (105, 80, 1) grey frames for SB3's small
CnnPolicy (NatureCNN); SB3 moves the channel first by itself.  2000 steps
teach Pong nothing yet -- this shows the pipeline, not a result.
"""

from __future__ import annotations

import argparse
import time

import gymnasium
import numpy as np
from gymnasium.wrappers import GrayscaleObservation, TransformObservation

import vncenv  # noqa: F401  (registers the vncenv/... ids)


def make_env(env_id: str) -> gymnasium.Env:
    env = gymnasium.make(env_id)  # sync mode: one game step per action
    env = GrayscaleObservation(env, keep_dim=True)  # (210, 160, 1)
    h, w, c = env.observation_space.shape
    half = gymnasium.spaces.Box(0, 255, ((h + 1) // 2, (w + 1) // 2, c), np.uint8)
    return TransformObservation(env, lambda obs: obs[::2, ::2], half)  # (105, 80, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description="PPO (Stable-Baselines3) on a vncenv env, on the CPU.")
    parser.add_argument("--env", default="vncenv/Pong-v0")
    parser.add_argument("--steps", type=int, default=2000, help="environment steps to train for")
    parser.add_argument("--n-steps", type=int, default=128, help="PPO rollout length")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", metavar="FILE.zip", help="save the trained model")
    args = parser.parse_args()

    import torch
    from stable_baselines3 import PPO

    torch.set_num_threads(1)  # small nets: threads cost more than they give
    env = make_env(args.env)
    try:
        model = PPO(
            "CnnPolicy", env, n_steps=args.n_steps, batch_size=64, n_epochs=2, learning_rate=2.5e-4,
            seed=args.seed, device="cpu", verbose=0,
        )  # fmt: skip
        start = time.perf_counter()
        model.learn(total_timesteps=args.steps)
        seconds = time.perf_counter() - start
        trained = model.num_timesteps
        print(f"trained {trained} steps in {seconds:.1f} s ({trained / seconds:.0f} steps/s) on {args.env}")

        # a short look at the policy it learned
        vec = model.get_env()
        obs = vec.reset()
        total = 0.0
        for _ in range(200):
            action, _ = model.predict(obs, deterministic=True)
            obs, rewards, dones, infos = vec.step(action)
            total += float(rewards[0])
        print(f"200 greedy steps: reward {total:+g}")
        if args.save:
            model.save(args.save)
            print(f"saved {args.save}")
    finally:
        env.close()


if __name__ == "__main__":
    main()
