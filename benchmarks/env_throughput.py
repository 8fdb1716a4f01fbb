"""ShopEnv speed next to CartPole, and the wall time of the default evaluate grid.

    python benchmarks/env_throughput.py [--chunk 5000] [--rounds 40] [--episodes 1000]

Prints, in one run: ShopEnv steps per second under each click model (all shoppers, valid
slates drawn before the timed loop), CartPole-v1 steps per second with a fixed action (all
made through ``gymnasium.make``; the best of many short interleaved chunks each), the
ratios; then the wall time of
``simshop evaluate --recommenders random,popularity --users all --episodes 1000 --seed 0``
(six shoppers × random, popularity and the oracle), the command's start-up included.
Figures, not a test: the targets are ≥ 0.2× CartPole for the default click model, ``pbm``
and ``cascade`` within 15% of it, and < 20 s for the grid.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time

import gymnasium as gym

import simshop_core  # noqa: F401 - registers simshop/Shop-v1
from simshop_core.click_models import CLICK_MODELS


def steps_per_second(env: gym.Env, actions: list, steps: int) -> float:
    """Steps per second over ``steps`` steps, the env carried on from where it was."""
    n = len(actions)
    start = time.perf_counter()
    for i in range(steps):
        _, _, terminated, truncated, _ = env.step(actions[i % n])
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunk", type=int, default=5_000, help="steps per timed chunk")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=40, help="chunks per env (best counts)")
    args = parser.parse_args()

    # Short chunks, interleaved, best chunk of each: the host's speed drifts, and a ratio of
    # runs taken minutes apart would measure the drift, not the envs.
    envs: dict[str, tuple[gym.Env, list]] = {"CartPole-v1": (gym.make("CartPole-v1"), [0])}
    for click_model in CLICK_MODELS:
        shop = gym.make("simshop/Shop-v1", users="all", click_model=click_model)
        shop.action_space.seed(0)
        envs[click_model] = (shop, [shop.action_space.sample() for _ in range(4096)])
    for env, _ in envs.values():
        env.reset(seed=0)
    rates = dict.fromkeys(envs, 0.0)
    for _ in range(args.rounds):
        for name, (env, actions) in envs.items():
            rates[name] = max(rates[name], steps_per_second(env, actions, args.chunk))
    pole_rate = rates.pop("CartPole-v1")
    default = rates["threshold"]
    print(f"CartPole-v1 (fixed)             {pole_rate:>10,.0f} steps/s")
    for click_model, rate in rates.items():
        versus = "" if click_model == "threshold" else f", {rate / default - 1:+.1%} vs threshold"
        print(
            f"ShopEnv (users=all, {click_model:<9}) {rate:>10,.0f} steps/s  "
            f"ratio {rate / pole_rate:.3f}{versus}"
        )
    print("targets: threshold ratio >= 0.2; pbm and cascade within 15% of threshold")

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
