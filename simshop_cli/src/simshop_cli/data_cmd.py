"""``simshop data obd|export-obp``: real logs in, OBP's format out.

``obd`` downloads the Open Bandit Dataset's small sample (inside the ``obp`` sdist; CC BY 4.0;
verified by SHA-256 before it is read) into a cache once and writes each policy's rows as a
SimShop log folder (`simshop_lab.data.obd` says how a row maps to a page). ``export-obp``
writes a log's pages of one logging recommender as Open Bandit Pipeline's slate bandit
feedback (.npz). Heavy imports happen inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import click

from simshop_cli.options import FILE, suffix_check

_DIR = click.Path(file_okay=False, path_type=Path)


@click.group()
def data() -> None:
    """Import real logs (the Open Bandit Dataset) and export logs for other tools."""


@data.command()
@click.option(
    "--cache-dir",
    type=_DIR,
    default=None,
    help="Where the OBD CSVs are kept (downloaded once) "
    "[default: $XDG_CACHE_HOME/simshop/obd or ~/.cache/simshop/obd].",
)
@click.option(
    "--output",
    "-o",
    type=_DIR,
    default=Path("obd-logs"),
    show_default=True,
    help="Folder to write the logs into: OUTPUT/random and OUTPUT/bts (new or empty).",
)
@click.option(
    "--policy",
    type=click.Choice(["random", "bts", "both"]),
    default="both",
    show_default=True,
    help="Which logging policy's rows to convert.",
)
def obd(cache_dir: Path | None, output: Path, policy: str) -> None:
    """Write the Open Bandit Dataset's small sample as SimShop logs.

    10,000 real rows (ZOZOTOWN fashion e-commerce, campaign "all", 80 items, 3 positions)
    per logging policy: uniform random (recommender obd_random) and Bernoulli Thompson
    sampling (obd_bts), each row one logged page showing one item, with its click and the
    logger's propensity. The sample ships in the obp 0.5.7 source archive, downloaded from
    PyPI the first time and checked against its pinned SHA-256 before it is read (nothing of
    it is built or run); the cached CSVs are checked against theirs every time. The dataset
    is CC BY 4.0 (ZOZO, Inc.; Saito et al. 2021): cite it when you use it.
    """
    from simshop_core.logs import check_log_target
    from simshop_lab.data.obd import OBD_POLICIES, convert_obd, default_cache_dir, fetch_obd

    policies = OBD_POLICIES if policy == "both" else (policy,)
    for name in policies:  # a bad output folder is an error before any download
        check_log_target(output / name)
    cache = fetch_obd(default_cache_dir() if cache_dir is None else cache_dir)
    written = convert_obd(cache, output, policies)
    from simshop_core.logs import read_log_arrays

    for name, folder in written.items():
        reward = read_log_arrays(folder, ["reward"])["reward"]
        click.echo(
            f"Wrote {len(reward):,} pages of obd_{name} to {folder} "
            f"(CTR {reward.mean():.4f}; data CC BY 4.0, ZOZO, Inc.)"
        )


@data.command("export-obp")
@click.option(
    "--log",
    "log_dir",
    type=_DIR,
    required=True,
    help="The log folder to export (from simshop evaluate --log).",
)
@click.option(
    "--output",
    "-o",
    type=FILE,
    required=True,
    callback=suffix_check(".npz"),
    help="The .npz file to write.",
)
@click.option(
    "--logger",
    default=None,
    help="The logging recommender whose pages to export [default: the only one with propensities].",
)
@click.option(
    "--metric",
    type=click.Choice(["clicks", "buys"]),
    default="clicks",
    show_default=True,
    help="The per-slot reward.",
)
def export_obp(log_dir: Path, output: Path, logger: str | None, metric: str) -> None:
    """Write a log as Open Bandit Pipeline's slate bandit feedback (.npz).

    Load it with simshop_lab.data.obp_export.load_obp_feedback (or numpy.load) and pass
    its slate_id, action, reward, position, pscore, pscore_item_position and pscore_cascade
    to OBP's SlateStandardIPS / SlateIndependentIPS / SlateRewardInteractionIPS.
    """
    from simshop_lab.data.obp_export import obp_feedback_from_log, save_obp_feedback

    feedback = obp_feedback_from_log(log_dir, logger, metric)
    save_obp_feedback(feedback, output)
    click.echo(
        f"Wrote {feedback['n_rounds']:,} slates ({len(feedback['slate_id']):,} slots, "
        f"{feedback['n_unique_action']} actions, len_list {feedback['len_list']}) to {output}"
    )
