"""``simshop abtest A B``: an A/B test of two recommenders in simulation."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich import box
from rich.table import Table

from simshop_cli.options import (
    MAX_EPISODES,
    catalog_option,
    env_option_option,
    jobs_option,
    scheduler_option,
    seed_option,
    suffix_check,
    users_option,
)
from simshop_cli.progress import progress_bar
from simshop_cli.results import PLOT_SUFFIXES, RESULT_SUFFIXES

if TYPE_CHECKING:
    from simshop_lab.abtest import ABResult

METRIC_CHOICES = ("reward", "ctr", "btr", "buys", "conversion")  # simshop_lab.abtest.METRICS


@click.command()
@click.argument("a")
@click.argument("b")
@users_option("Comma-separated shopper specs, or 'all': the mix shoppers are drawn from.")
@click.option(
    "--shoppers",
    "-n",
    type=click.IntRange(2, MAX_EPISODES),
    default=2000,
    show_default=True,
    help="Shoppers in the test (both arms together).",
)
@seed_option("Master seed (shoppers, assignment, recommenders).")
@click.option(
    "--split",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.5,
    show_default=True,
    help="Share of shoppers assigned to B.",
)
@click.option(
    "--metric",
    type=click.Choice(METRIC_CHOICES),
    default="reward",
    show_default=True,
    help="The primary metric (sequential test, power, calibration).",
)
@click.option("--sequential", is_flag=True, help="Also run mSPRT and report when it stopped.")
@click.option(
    "--alpha",
    type=click.FloatRange(0, 0.5, min_open=True, max_open=True),
    default=0.05,
    show_default=True,
    help="Significance level.",
)
@click.option(
    "--mde",
    type=float,
    default=None,
    help="Minimum detectable effect (B − A in the metric's units): shoppers needed for 80% "
    "power; also mSPRT's mixing scale.",
)
@click.option(
    "--calibrate",
    type=click.IntRange(0, 100_000),
    default=0,
    show_default=True,
    help="Replicates with fresh seeds: the false-positive rate (A/A) or power (A/B), the "
    "peeking contrast and the simulated power curve.",
)
@click.option(
    "--peek-every",
    type=click.IntRange(1, MAX_EPISODES),
    default=100,
    show_default=True,
    help="Shoppers between the looks of the naive peeking t-test (calibration contrast).",
)
@click.option(
    "--visits",
    type=click.IntRange(1, 1000),
    default=None,
    help="Visits per shopper (the env option visits_per_shopper; default 10).",
)
@catalog_option
@env_option_option
@jobs_option("Worker processes; the numbers are the same for any value.")
@scheduler_option
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    callback=suffix_check(*RESULT_SUFFIXES),
    help="Write the results to .json (everything, with the `primary` object) or .csv (one "
    "row per metric).",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    callback=suffix_check(*PLOT_SUFFIXES),
    help="Plot the running estimate with its confidence sequence (.png, .svg or .pdf).",
)
def abtest(
    a: str,
    b: str,
    users: str,
    shoppers: int,
    seed: int,
    split: float,
    metric: str,
    sequential: bool,
    alpha: float,
    mde: float | None,
    calibrate: int,
    peek_every: int,
    visits: int | None,
    catalog: Path | None,
    env_options: dict,
    jobs: int,
    scheduler: str | None,
    output: Path | None,
    plot: Path | None,
) -> None:
    """A/B test recommender A (control) against B (treatment) in simulation.

    Shoppers are assigned to an arm by a seeded hash of their id. Both arms also run on ALL
    shoppers with the same random streams, so the simulator's true effect is shown beside
    the estimate. Per metric: each arm's mean, B − A with a 95% CI, the relative lift and a
    p-value with shoppers as units (Welch t; the delta method for CTR and BTR; two-proportion
    z for conversion), and a sample-ratio-mismatch check.
    """
    from simshop_cli.registry import load_registry
    from simshop_core.catalog import load_catalog
    from simshop_core.files import check_results_path
    from simshop_lab.abtest import run_abtest

    if output is not None:
        check_results_path(output)  # before the run: a bad path must not cost one
    load_registry()  # plugin load errors: one warning line each
    loaded = load_catalog(catalog)
    per_shopper = visits or int(env_options.get("visits_per_shopper", 10))
    arms = 1 if a == b else 2
    total = shoppers * per_shopper * arms * (1 + calibrate)
    with progress_bar("A/B testing", total=total) as advance:
        result = run_abtest(
            a,
            b,
            users,
            shoppers,
            seed,
            split=split,
            metric=metric,
            sequential=sequential,
            alpha=alpha,
            mde=mde,
            calibrate=calibrate,
            peek_every=peek_every,
            visits=visits,
            env_options=env_options,
            catalog=loaded,
            jobs=jobs,
            progress=advance,
            scheduler=scheduler,
        )
    print_abtest(result)
    if output is not None:
        result.save(output)
        click.echo(f"Wrote {output}")
    if plot is not None:
        save_plot(result, plot)
        click.echo(f"Wrote {plot}")


def _num(value: float, digits: int = 4) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def _p(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.2e}" if value < 1e-3 else f"{value:.4f}"


def metrics_table(result: ABResult) -> Table:
    table = Table(
        title=f"A = {result.a}, B = {result.b}: {result.shoppers:,} shoppers × "
        f"{result.visits_per_shopper} visits, seed {result.seed} "
        "(estimate from the assigned shoppers; truth from both arms on all shoppers)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("metric", no_wrap=True)
    table.add_column("test", no_wrap=True)
    for header in ("A", "B", "B − A", "95% CI", "lift", "p_value", "true B − A"):
        table.add_column(header, justify="right", no_wrap=True)
    for m in result.metrics:
        table.add_row(
            m.metric + (" *" if m.metric == result.metric else ""),
            m.test,
            _num(m.mean_a),
            _num(m.mean_b),
            _num(m.difference),
            f"[{_num(m.ci_low)}, {_num(m.ci_high)}]",
            f"{m.relative_lift:+.1%}" if math.isfinite(m.relative_lift) else "n/a",
            _p(m.p_value),
            _num(m.true_difference),
            style="bold" if m.metric == result.metric else None,
        )
    return table


def calibration_table(result: ABResult) -> Table | None:
    c = result.calibration
    if c is None:
        return None
    name = "false-positive rate" if c.kind == "false_positive_rate" else "power"
    table = Table(
        title=f"Calibration: {name} at α = {c.alpha} over {c.fixed.replicates} replicates "
        "(95% Clopper–Pearson intervals)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("test", no_wrap=True)
    for header in ("rejections", "rate", "95% CI"):
        table.add_column(header, justify="right", no_wrap=True)
    for label, rate in (
        ("fixed horizon (one look at the end)", c.fixed),
        (f"naive peeking (t-test every {c.peek_every} shoppers)", c.peeking),
        ("mSPRT (always-valid p, every shopper)", c.msprt),
    ):
        table.add_row(
            label,
            f"{rate.rejections}/{rate.replicates}",
            f"{rate.rate:.3f}",
            f"[{rate.ci_low:.3f}, {rate.ci_high:.3f}]",
        )
    return table


def print_abtest(result: ABResult) -> None:
    from simshop_cli.console import stdout, warn

    console = stdout()
    console.print(metrics_table(result))
    s = result.sample_ratio
    line = (
        f"Sample ratio: {s.n_a:,} A / {s.n_b:,} B (planned share of B {s.expected_b:g}), "
        f"χ² = {s.chi2:.2f}, p = {_p(s.p_value)}"
    )
    console.print(line)
    if s.mismatch:
        warn("sample-ratio mismatch: the split differs from the planned one (p < 0.001)")
    if result.sequential:
        q = result.sequential_summary()
        if q["stopped"]:
            console.print(
                f"mSPRT (τ = {_num(q['tau'])}): stopped after {q['stopped_at']:,} shoppers, "
                f"always-valid p = {_p(q['p_value'])}, B − A = {_num(q['estimate'])} "
                f"in [{_num(q['cs_low'])}, {_num(q['cs_high'])}] (confidence sequence)"
            )
        else:
            console.print(
                f"mSPRT (τ = {_num(q['tau'])}): did not stop in {q['shoppers_seen']:,} shoppers "
                f"(always-valid p = {_p(q['p_value'])}; confidence sequence "
                f"[{_num(q['cs_low'])}, {_num(q['cs_high'])}])"
            )
    if result.power is not None:
        w = result.power
        needed = "n/a" if w.shoppers_needed is None else f"{w.shoppers_needed:,}"
        console.print(
            f"Power: {needed} shoppers for {w.power:.0%} power against B − A = {w.mde:g} "
            f"at α = {w.alpha:g} (from this run's variances)"
        )
    table = calibration_table(result)
    if table is not None:
        console.print(table)
        points = result.calibration.curve  # type: ignore[union-attr]
        curve = ", ".join(
            f"{p.shoppers:,}: {p.power:.2f}"
            + (f" ({p.analytic:.2f})" if p.analytic is not None else "")
            for p in points
        )
        theory = " (in brackets: the normal approximation for --mde)" if result.power else ""
        console.print(f"Simulated rejection rate by shoppers{theory}: {curve}")


def save_plot(result: ABResult, path: Path) -> Path:
    """The primary metric's running estimate, its pointwise 95% CI and mSPRT's confidence
    sequence, against shoppers seen, with the true effect."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    from simshop_core.files import atomic_path

    trace = result.trace_frame(points=2000)
    m = result.primary_metric
    fig, ax = plt.subplots(figsize=(8.0, 4.5))
    x = trace["shoppers"]
    ax.fill_between(
        x, trace["cs_low"], trace["cs_high"], alpha=0.25, label="mSPRT confidence sequence"
    )
    ax.plot(x, trace["ci_low"], "k:", lw=0.8, label="fixed-horizon 95% CI (one look)")
    ax.plot(x, trace["ci_high"], "k:", lw=0.8)
    ax.plot(x, trace["estimate"], lw=1.2, label="running estimate B − A")
    ax.axhline(m.true_difference, color="tab:red", ls="--", lw=1, label="true effect")
    ax.axhline(0.0, color="grey", lw=0.6)
    if result.trace.stopped_at is not None:
        ax.axvline(result.trace.stopped_at, color="tab:green", lw=1, label="mSPRT stops")
    late = x >= max(20, x[-1] // 20)  # the first shoppers' intervals are very wide
    finite = [v for k in ("ci_low", "ci_high") for v in trace[k][late] if math.isfinite(v)]
    if finite:  # the early sequence is wide: frame the plot on the fixed-horizon band
        low, high = min(finite), max(finite)
        pad = 0.1 * (high - low or 1.0)
        ax.set_ylim(min(low, m.true_difference) - pad, max(high, m.true_difference) + pad)
    ax.set_xlabel("shoppers seen (arrival order)")
    ax.set_ylabel(f"{result.metric}: B − A")
    ax.set_title(f"{result.b} − {result.a}, seed {result.seed}")
    ax.legend(fontsize="small")
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp)
    finally:
        plt.close(fig)
    return path
