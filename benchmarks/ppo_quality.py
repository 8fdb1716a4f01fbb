"""Quality of a slate agent (ppo, a2c) at the README's default training budget.

    python benchmarks/ppo_quality.py [--recommender ppo] [--timesteps N] [--seed 0]
                                     [--episodes 1000] [--also SPEC …]
    python benchmarks/ppo_quality.py --model PATH      # evaluate a saved model, no training
    python benchmarks/ppo_quality.py --recommender a2c --also ppo   # a2c beside shipped ppo

Trains with the README's command (``simshop train --recommender R --users all --timesteps
N --seed S``; its wall time and steps/s are printed), then evaluates it beside random,
popularity and the oracle (and any ``--also`` specs, e.g. ``ppo`` for the shipped ppo model)
over ``--episodes`` visits per shopper and prints the table with 95% CIs (shoppers as the
independent units), followed by the two targets: the normalised score averaged over
cheap_seeker, brand_lover, value_optimizer, familiarity_seeker and freshness_looker (≥ 0.8),
and whether the recommender beats popularity beyond the CIs on each of them — for its default
mode (which samples its Plackett–Luce slates: the policy the agent trained), for reference
for greedy decoding (``R:…:mode=greedy``, the top-k scores), and for each ``--also`` spec.
Every cell has its own seed from ``--eval-seed``, so a recommender's figures do not depend
on what else is in the table. Figures, not a test.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_USERS = (
    "cheap_seeker",
    "brand_lover",
    "value_optimizer",
    "familiarity_seeker",
    "freshness_looker",
)
DEFAULT_TIMESTEPS = 1_000_000  # the README's default budget (the `simshop train` default)


def train(recommender: str, timesteps: int, seed: int, output: Path, runs: Path) -> float:
    command = [
        sys.executable, "-m", "simshop_cli", "train", "--recommender", recommender,
        "--users", "all",
        "--timesteps", str(timesteps), "--seed", str(seed), "--output", str(output),
        "--eval-episodes", "0", "--runs-dir", str(runs),
    ]  # fmt: skip
    print("$ simshop " + " ".join(command[3:]), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recommender", default="ppo", help="the trainable recommender (ppo, a2c)")
    parser.add_argument("--timesteps", type=int, default=DEFAULT_TIMESTEPS)
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--eval-seed", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--model", type=Path, default=None, help="evaluate this model instead")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="SPEC",
        help="another recommender spec in the same table, summarised too (e.g. ppo)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        model = args.model
        if model is None:
            model = Path(folder) / f"{args.recommender}.zip"
            seconds = train(
                args.recommender, args.timesteps, args.seed, model, Path(folder) / "runs"
            )
            print(f"training: {seconds:.0f} s wall time (command start-up included)")
        from simshop_cli.results import print_results
        from simshop_core.evaluation import evaluate
        from simshop_core.specs import label

        name = args.recommender
        default, greedy = f"{name}:{model}", f"{name}:{model}:mode=greedy"
        result = evaluate(
            [default, greedy, *args.also, "popularity"],
            users="all",
            episodes=args.episodes,
            seed=args.eval_seed,
        )
    print_results(result)
    summaries = [
        (default, f"{name} (default: samples its slates)"),
        (greedy, f"{name}:mode=greedy"),
    ]
    for spec, what in [*summaries, *((spec, spec) for spec in args.also)]:
        print(f"\n{what}")
        summary(result, label(spec))


def summary(result: object, name: str) -> None:
    scores = []
    for user in TARGET_USERS:
        agent, popularity = result.cell(user, name), result.cell(user, "popularity")
        scores.append(agent.normalised_score)
        beats = agent.ci_low > popularity.ci_high
        print(
            f"{user:<20} score {agent.normalised_score:6.2f}   reward {agent.mean_reward:6.2f} "
            f"[{agent.ci_low:.2f}, {agent.ci_high:.2f}]  popularity {popularity.mean_reward:6.2f} "
            f"[{popularity.ci_low:.2f}, {popularity.ci_high:.2f}]  "
            f"{'beats popularity beyond the CIs' if beats else 'NOT beyond the CIs'}"
        )
    print(f"mean normalised score over the five: {sum(scores) / len(scores):.3f} (target >= 0.8)")


if __name__ == "__main__":
    main()
