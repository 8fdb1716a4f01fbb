"""The population engine against the scalar env, the evaluate grid, and ppo training speed.

    python benchmarks/population_throughput.py [--seconds 3] [--train-timesteps 100000]
    python benchmarks/population_throughput.py --targets [--runs 3] [--seconds 3]

``--targets`` prints only the core's three throughput figures (issue 18), in one run: the
engine's user-steps per second through ``gymnasium.make_vec(..., vectorization_mode=
"vector_entry_point")`` at N = 4,096 (``users="all"``, random valid slates drawn in the
loop) with ``copy=False`` and with ``copy=True``, each the best of ``--runs`` runs of
`engine_rate`; then ShopEnv's and CartPole-v1's steps per second (``env_throughput``'s
interleaved chunks, the best chunk of each) and their ratio. Targets: ≥ 2,000,000 and
≥ 1,200,000 user-steps/s, ShopEnv ≥ 0.25× CartPole-v1.

Without ``--targets``:

Prints, in one run (issue 10's figures):

- the scalar `ShopEnv`'s steps per second (``users="all"``, valid random slates drawn
  before the timed loop, the best of several short chunks);
- the engine's user-steps per second (pages shown ÷ wall time) through
  ``gymnasium.make_vec("simshop/Shop-v1", num_envs=N, vectorization_mode="vector_entry_point",
  users="all")`` at N = 1, 64, 1,024, 4,096 and 16,384, with a fresh valid random slate in
  every row drawn *inside* the timed loop (``action_space.sample()``) and the observations
  built every step — both with fresh arrays (``copy=True``, the default) and with the
  engine's reused buffers (``copy=False``) — and the ratio to the scalar env;
- the engine driven directly, as evaluation drives it (`Population`: every slot shows a page
  every step, no autoreset step; ``users="all"`` and one shopper type), at N = 4,096;
- the engine's state per shopper in bytes, beyond its candidate pool (the per-candidate
  arrays: pool, the candidates' observation fields, exposures and repeats) and in all;
- the wall time of ``simshop evaluate --recommenders random,popularity --users all
  --episodes 1000 --seed 0`` (6 shoppers × random, popularity, oracle × 1,000 visits),
  start-up included, best of three;
- ``python benchmarks/train_throughput.py --timesteps N --repeats 1`` (ppo's default
  configuration), unless ``--train-timesteps 0``.

Figures, not a test. Targets: ≥ 1,000,000 user-steps/s at N = 4,096 (≥ 35× the scalar env),
≤ 2 KB of state per shopper beyond its candidate pool, the grid in ≤ 2.5 s, ppo training
≥ 3,000 steps/s.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import simshop_core  # noqa: F401 - registers simshop/Shop-v1
from simshop_core.vector_env import ShopVectorEnv

SIZES = (1, 64, 1024, 4096, 16_384)


def scalar_rate(seconds: float) -> float:
    env = gym.make("simshop/Shop-v1", users="all")
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(4096)]
    env.reset(seed=0)
    best, deadline, i = 0.0, time.perf_counter() + seconds, 0
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(2000):
            _, _, terminated, truncated, _ = env.step(actions[i % 4096])
            i += 1
            if terminated or truncated:
                env.reset()
        best = max(best, 2000 / (time.perf_counter() - start))
    return best


def engine_rate(n: int, copy: bool, seconds: float) -> float:
    """User-steps (pages actually shown) per second; the best of short chunks."""
    venv = gym.make_vec(
        "simshop/Shop-v1",
        num_envs=n,
        vectorization_mode="vector_entry_point",
        users="all",
        copy=copy,
    )
    venv.reset(seed=0)
    venv.action_space.seed(0)
    for _ in range(3):  # warm up: every slot past its first page
        venv.step(venv.action_space.sample())
    steps = max(5, 100_000 // n)
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        pages = 0
        start = time.perf_counter()
        for _ in range(steps):
            _, _, _, _, info = venv.step(venv.action_space.sample())
            pages += n if "_page" not in info else int(info["_page"].sum())
        best = max(best, pages / (time.perf_counter() - start))
    return best


def direct_rate(n: int, users: str, seconds: float) -> float:
    """User-steps per second of the engine driven as evaluation drives it: every slot shows a
    page every step (a finished visit's next one starts in the same step), random valid
    slates drawn and checked in the loop, observations built (the engine's buffers)."""
    from simshop_core import ShopEnv
    from simshop_core.population import Population
    from simshop_core.spaces import check_slates, sample_slates

    env = ShopEnv(users=users)
    k, m = env.slate_size, env.num_candidates
    population = Population(env.options, n, seed=0)
    population.arrive(np.arange(n), np.arange(n))
    arrivals = n
    rng = np.random.default_rng(0)
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(25):
            population.observation()
            page = population.step(check_slates(sample_slates(rng, n, m, k), m, k, n))
            done = np.flatnonzero(page.terminated | page.truncated)
            staying = population.visits_left[done] > 0
            population.next_visit(done[staying])
            leaving = done[~staying]
            population.arrive(leaving, arrivals + np.arange(len(leaving)))
            arrivals += len(leaving)
        best = max(best, 25 * n / (time.perf_counter() - start))
    return best


def shop_versus_cartpole(rounds: int = 15, chunk: int = 3000) -> tuple[float, float]:
    """ShopEnv (``users="all"``, default click model, valid slates drawn before the loop) and
    CartPole-v1 (a fixed action) steps per second: short interleaved chunks, the best of
    each (the host's speed drifts; a ratio of runs minutes apart would measure the drift)."""
    from env_throughput import steps_per_second  # the sibling benchmark's timed loop

    shop = gym.make("simshop/Shop-v1", users="all")
    shop.action_space.seed(0)
    envs = {
        "shop": (shop, [shop.action_space.sample() for _ in range(4096)]),
        "pole": (gym.make("CartPole-v1"), [0]),
    }
    for env, _ in envs.values():
        env.reset(seed=0)
    rates = dict.fromkeys(envs, 0.0)
    for _ in range(rounds):
        for name, (env, actions) in envs.items():
            rates[name] = max(rates[name], steps_per_second(env, actions, chunk))
    return rates["shop"], rates["pole"]


def print_targets(runs: int, seconds: float) -> None:
    """The issue's three figures, in one run."""
    for copy in (False, True):
        best = max(engine_rate(4096, copy, seconds) for _ in range(runs))
        target = "2,000,000" if not copy else "1,200,000"
        print(
            f"engine make_vec N=4,096 copy={copy!s:<5} {best:>12,.0f} user-steps/s  "
            f"(best of {runs}; target >= {target})"
        )
    shop, pole = shop_versus_cartpole()
    print(
        f"ShopEnv {shop:,.0f} steps/s, CartPole-v1 {pole:,.0f} steps/s: "
        f"ratio {shop / pole:.3f} (target >= 0.25)"
    )


def state_bytes(n: int = 4096) -> tuple[float, float]:
    """Bytes of engine state per shopper: beyond the candidate pool, and in all."""
    venv = ShopVectorEnv(n, users="all", copy=False)
    venv.reset(seed=0)
    population = venv.population
    assert population is not None
    m = population.m
    seen: set[int] = set()
    total = pool = 0
    for value in vars(population).values():
        if not isinstance(value, np.ndarray) or id(value.base) in seen or id(value) in seen:
            continue
        owner = value if value.base is None else value.base
        seen.add(id(owner))
        if not (owner.ndim and n in owner.shape):
            continue  # tables shared by all shoppers (catalog features, thresholds)
        total += owner.nbytes
        if m in owner.shape[owner.shape.index(n) + 1 :]:
            pool += owner.nbytes  # per candidate: pool, candidate fields, exposures, repeats
    return (total - pool) / n, total / n


def grid_wall(episodes: int = 1000) -> float:
    simshop = shutil.which("simshop") or f"{sys.executable} -m simshop_cli"
    command = (
        f"{simshop} evaluate --recommenders random,popularity --users all "
        f"--episodes {episodes} --seed 0"
    ).split()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="timing per figure")
    parser.add_argument("--train-timesteps", type=int, default=100_000)
    parser.add_argument(
        "--targets", action="store_true", help="print only the three figures of issue 18"
    )
    parser.add_argument("--runs", type=int, default=3, help="engine runs per figure (--targets)")
    args = parser.parse_args()
    if args.targets:
        print_targets(args.runs, args.seconds)
        return

    scalar = scalar_rate(args.seconds)
    print(f"ShopEnv (scalar, users=all)          {scalar:>12,.0f} steps/s")
    for n in SIZES:
        for copy in (True, False):
            rate = engine_rate(n, copy, args.seconds)
            print(
                f"engine N={n:<6,} copy={copy!s:<5}       {rate:>12,.0f} user-steps/s  "
                f"{rate / scalar:6.1f}x scalar"
            )
    for users in ("all", "cheap_seeker"):
        rate = direct_rate(4096, users, args.seconds)
        print(
            f"engine N=4,096 driven directly, users={users:<12} {rate:>10,.0f} user-steps/s  "
            f"{rate / scalar:6.1f}x scalar"
        )
    beyond, everything = state_bytes()
    print(
        f"state per shopper: {beyond:,.0f} bytes beyond its candidate pool "
        f"({everything:,.0f} in all)"
    )
    print(
        f"evaluate grid (6 shoppers x random, popularity, oracle x 1,000 visits): "
        f"{grid_wall():.2f} s wall, start-up included (best of 3)"
    )
    print(
        "targets: >= 1,000,000 user-steps/s at N=4,096 (>= 35x scalar); <= 2 KB per shopper "
        "beyond its pool; grid <= 2.5 s; ppo training >= 3,000 steps/s"
    )
    if args.train_timesteps:
        script = Path(__file__).with_name("train_throughput.py")
        subprocess.run(
            [
                sys.executable,
                str(script),
                "--timesteps",
                str(args.train_timesteps),
                "--repeats",
                "1",
            ],
            check=True,
        )


if __name__ == "__main__":
    main()
