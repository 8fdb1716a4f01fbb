"""ShopEnv speed next to CartPole, and the wall time of the default evaluate grid.

    python benchmarks/env_throughput.py [--steps 200000] [--episodes 1000]

Prints, in one run: ShopEnv steps per second (all shoppers, valid slates drawn before the
timed loop), CartPole-v1 steps per second with a fixed action (both made through
``gymnasium.make``), their ratio; then the wall time of
``simshop evaluate --recommenders random,popularity --users all --episodes 1000 --seed 0``
(six shoppers × random, popularity and the oracle), the command's start-up included.
Figures, not a test: the targets are ≥ 0.2× CartPole and < 20 s for the grid.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time

import gymnasium as gym

import simshop_core  # noqa: F401 - registers simshop/Shop-v0


def steps_per_second(env: gym.Env, actions: list, steps: int) -> float:
    env.reset(seed=0)
    n = len(actions)
    start = time.perf_counter()
    for i in range(steps):
        _, _, terminated, truncated, _ = env.step(actions[i % n])
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="best of N timed runs")
    args = parser.parse_args()

    shop = gym.make("simshop/Shop-v0", users="all")
    shop.action_space.seed(0)
    slates = [shop.action_space.sample() for _ in range(4096)]
    cartpole = gym.make("CartPole-v1")
    shop_rate = max(steps_per_second(shop, slates, args.steps) for _ in range(args.repeats))
    pole_rate = max(steps_per_second(cartpole, [0], args.steps) for _ in range(args.repeats))
    print(f"ShopEnv (users=all)   {shop_rate:>10,.0f} steps/s")
    print(f"CartPole-v1 (fixed)   {pole_rate:>10,.0f} steps/s")
    print(f"ratio                 {shop_rate / pole_rate:>10.3f}  (target >= 0.2)")

    simshop = shutil.which("simshop") or f"{sys.executable} -m simshop_cli"
    command = (
        f"{simshop} evaluate --recommenders random,popularity --users all "
        f"--episodes {args.episodes} --seed 0"
    ).split()
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    print(
        f"evaluate grid (6 shoppers x random, popularity, oracle x {args.episodes} visits): "
        f"{wall:.1f} s  (target < 20 s)"
    )


if __name__ == "__main__":
    main()
