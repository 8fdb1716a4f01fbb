"""Quality of the ppo recommender at the README's default training budget.

    python benchmarks/ppo_quality.py [--timesteps N] [--seed 0] [--episodes 1000]
    python benchmarks/ppo_quality.py --model PATH      # evaluate a saved model, no training

Trains with the README's command (``simshop train --recommender ppo --users all --timesteps
N --seed S``; its wall time is printed), then evaluates ppo beside random, popularity and the
oracle over ``--episodes`` visits per shopper and prints the table with 95% CIs (shoppers as
the independent units), followed by the two targets: the normalised score averaged over
cheap_seeker, brand_lover, value_optimizer, familiarity_seeker and freshness_looker (≥ 0.8),
and whether ppo beats popularity beyond the CIs on each of them — for the default ``ppo``
(which samples its Plackett–Luce slates: the policy PPO trained) and, for reference, for
greedy decoding (``ppo:…:mode=greedy``, the top-k scores). Figures, not a test.
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


def train(timesteps: int, seed: int, output: Path, runs: Path) -> float:
    command = [
        sys.executable, "-m", "simshop_cli", "train", "--recommender", "ppo", "--users", "all",
        "--timesteps", str(timesteps), "--seed", str(seed), "--output", str(output),
        "--eval-episodes", "0", "--runs-dir", str(runs),
    ]  # fmt: skip
    print("$ simshop " + " ".join(command[3:]), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timesteps", type=int, default=DEFAULT_TIMESTEPS)
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--eval-seed", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--model", type=Path, default=None, help="evaluate this model instead")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        model = args.model
        if model is None:
            model = Path(folder) / "ppo.zip"
            seconds = train(args.timesteps, args.seed, model, Path(folder) / "runs")
            print(f"training: {seconds:.0f} s wall time (command start-up included)")
        from simshop_cli.results import print_results
        from simshop_core.evaluation import evaluate
        from simshop_core.specs import label

        default, greedy = f"ppo:{model}", f"ppo:{model}:mode=greedy"
        result = evaluate(
            [default, greedy, "popularity"],
            users="all",
            episodes=args.episodes,
            seed=args.eval_seed,
        )
    print_results(result)
    for spec, what in ((default, "ppo (default: samples its slates)"), (greedy, "ppo:mode=greedy")):
        print(f"\n{what}")
        summary(result, label(spec))


def summary(result: object, name: str) -> None:
    scores = []
    for user in TARGET_USERS:
        ppo, popularity = result.cell(user, name), result.cell(user, "popularity")
        scores.append(ppo.normalised_score)
        beats = ppo.ci_low > popularity.ci_high
        print(
            f"{user:<20} score {ppo.normalised_score:6.2f}   ppo {ppo.mean_reward:6.2f} "
            f"[{ppo.ci_low:.2f}, {ppo.ci_high:.2f}]  popularity {popularity.mean_reward:6.2f} "
            f"[{popularity.ci_low:.2f}, {popularity.ci_high:.2f}]  "
            f"{'beats popularity beyond the CIs' if beats else 'NOT beyond the CIs'}"
        )
    print(f"mean normalised score over the five: {sum(scores) / len(scores):.3f} (target >= 0.8)")


if __name__ == "__main__":
    main()
