"""Training throughput and peak memory of the default ``simshop train`` configuration.

    python benchmarks/train_throughput.py [--timesteps 200000] [--repeats 2] [--envs N]

Runs ``simshop train --recommender ppo --users all --timesteps N --eval-episodes 0`` in a
subprocess (TensorBoard and CSV logging on, as by default) and prints, per run:

- environment steps per second over the whole training run (timesteps ÷ wall time of
  ``learn``, rollouts and updates included; the figure the command prints itself), and over
  the whole command (start-up, env construction and saving included);
- the peak proportional set size (PSS) of the process tree — the command and any children —
  sampled every 0.1 s in a thread with psutil's ``memory_full_info().pss``.

Figures, not a test; targets: ≥ 1,000 steps/s and ≤ 1 GB. The machine is shared, so run it
more than once (``--repeats``) and read the best and the spread.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil


def tree_pss(root: psutil.Process) -> int:
    """PSS in bytes of ``root`` and all its descendants (processes that vanish count 0)."""
    total = 0
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += process.memory_full_info().pss
    return total


def run_once(timesteps: int, envs: int | None, folder: Path) -> tuple[float, float, int]:
    command = [
        sys.executable, "-m", "simshop_cli", "train", "--recommender", "ppo", "--users", "all",
        "--timesteps", str(timesteps), "--seed", "0", "--eval-episodes", "0",
        "--output", str(folder / "ppo.zip"), "--runs-dir", str(folder / "runs"),
    ]  # fmt: skip
    if envs:
        command += ["--envs", str(envs)]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(process.pid)
        while not done.is_set():
            try:
                peak = max(peak, tree_pss(root))
            except psutil.NoSuchProcess:
                return
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if process.returncode:
        raise SystemExit(f"simshop train failed ({process.returncode}):\n{stderr}")
    match = re.search(r"this run ([\d,]+) steps in \d+ s, ([\d,]+) steps/s", stdout)
    if not match:
        raise SystemExit(f"unexpected output from simshop train:\n{stdout}")
    trained = int(match.group(1).replace(",", ""))
    return float(match.group(2).replace(",", "")), trained / wall, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timesteps", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--envs", type=int, default=None, help="default: the command's")
    args = parser.parse_args()
    print(f"simshop train --users all --timesteps {args.timesteps:,} (default settings)")
    for i in range(args.repeats):
        with tempfile.TemporaryDirectory() as folder:
            learn_rate, command_rate, peak = run_once(args.timesteps, args.envs, Path(folder))
        print(
            f"run {i + 1}: {learn_rate:>7,.0f} env steps/s in training "
            f"({command_rate:,.0f} over the whole command); "
            f"peak PSS of the process tree {peak / 2**20:,.0f} MiB"
        )
    print("targets: >= 1,000 steps/s, <= 1 GB (1,024 MiB)")


if __name__ == "__main__":
    main()
