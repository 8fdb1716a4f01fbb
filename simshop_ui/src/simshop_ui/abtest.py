"""The A/B page: two recommenders, the running difference and its confidence sequence.

`abtest_view` lays out the page (app.py calls it in its own tab); the numbers are
`simshop_lab.abtest.run_abtest`'s own, so they equal what ``simshop abtest`` prints for
the same choices (the page shows that command).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from simshop_core.bounds import MAX_EPISODES, SEED_MAX
from simshop_core.catalog import Catalog
from simshop_core.registry import Registry
from simshop_lab.abtest import METRICS, ABResult, run_abtest
from simshop_ui import cards, choices

#: The table's columns, in order (names as in `simshop_lab.abtest.MetricResult`).
TABLE_COLUMNS = (
    "metric",
    "test",
    "mean_a",
    "mean_b",
    "difference",
    "ci_low",
    "ci_high",
    "relative_lift",
    "p_value",
    "true_difference",
)


def cli_command(a: str, b: str, users: Sequence[str], shoppers: int, seed: int, metric: str) -> str:
    """The ``simshop abtest`` command that prints the same numbers."""
    words = ["simshop", "abtest", a, b, "--users", ",".join(users)]
    words += ["--shoppers", str(shoppers), "--seed", str(seed), "--metric", metric, "--sequential"]
    return shlex.join(words)


def metrics_frame(result: ABResult) -> pd.DataFrame:
    return result.to_frame()[list(TABLE_COLUMNS)]


def trace_chart(result: ABResult) -> Any:
    """The running estimate of B − A after each shopper, mSPRT's confidence sequence as a
    band and the simulator's true effect as a rule."""
    import altair as alt

    trace = pd.DataFrame(result.trace_frame())
    frame = trace.replace([float("inf"), float("-inf")], float("nan")).dropna(
        subset=["cs_low", "cs_high"]
    )
    x = alt.X("shoppers:Q", title="shoppers seen")
    band = (
        alt.Chart(frame)
        .mark_area(opacity=0.3)
        .encode(x=x, y=alt.Y("cs_low:Q", title=f"{result.metric}: B − A"), y2="cs_high:Q")
    )
    line = alt.Chart(frame).mark_line().encode(x=x, y="estimate:Q")
    truth = pd.DataFrame({"truth": [result.primary_metric.true_difference]})
    rule = alt.Chart(truth).mark_rule(color="red", strokeDash=[4, 4]).encode(y="truth:Q")
    return alt.layer(band, line, rule).properties(height=320)


def abtest_view(registry: Registry, catalog: Catalog) -> None:
    st.subheader("A/B test")
    st.caption(
        "Shoppers are split between A and B by a seeded hash of their id. Both arms also run "
        "on every shopper with the same random streams, so the true effect is known. The band "
        "is mSPRT's confidence sequence: valid however often you look."
    )
    names = choices.recommender_options(registry)
    if not names:
        st.info("Install a recommender to run an A/B test.")
        return
    left, right = st.columns(2)
    # Defaults: the popular-items baseline against random, both quick.
    first = choices.preferred_recommenders(names)[0]
    second = "random" if "random" in names and first != "random" else names[min(1, len(names) - 1)]
    a = left.selectbox(
        "A (control)",
        names,
        index=names.index(first),
        key="ab_a",
        format_func=choices.recommender_caption,
    )
    b = right.selectbox(
        "B (treatment)",
        names,
        index=names.index(second),
        key="ab_b",
        format_func=choices.recommender_caption,
    )
    users = choices.shopper_options(registry)
    chosen_users = st.multiselect("Shoppers", users, default=users, key="ab_users")
    left, middle, right = st.columns(3)
    shoppers = int(
        left.number_input(
            "Shoppers", min_value=2, max_value=MAX_EPISODES, value=1000, step=100, key="ab_shoppers"
        )
    )
    seed = int(
        middle.number_input("Seed", min_value=0, max_value=SEED_MAX, value=0, step=1, key="ab_seed")
    )
    metric = right.selectbox("Primary metric", METRICS, key="ab_metric")
    st.caption("The same numbers from the command line:")
    st.code(
        cli_command(a, b, chosen_users, shoppers, seed, metric), language="bash", wrap_lines=True
    )
    if st.button("Run A/B test", key="ab_run", type="primary", disabled=not chosen_users):
        try:
            with st.spinner(f"Playing {a} and {b} on {shoppers:,} shoppers …"):
                result = run_abtest(
                    a, b, chosen_users, shoppers, seed, metric=metric, sequential=True,
                    catalog=catalog,
                )  # fmt: skip
        except Exception as exc:  # a bad parameter or a broken plugin: one line
            st.session_state.pop("ab_result", None)
            message = str(exc).strip().splitlines()
            st.error(f"The A/B test failed: {cards.escape(message[0] if message else repr(exc))}")
        else:
            st.session_state["ab_result"] = result

    result: ABResult | None = st.session_state.get("ab_result")
    if result is None:
        return
    m = result.primary_metric
    row = st.columns(4)
    row[0].metric("B − A (estimate)", f"{m.difference:+.4g}")
    row[1].metric("True B − A", f"{m.true_difference:+.4g}")
    row[2].metric("p-value", f"{m.p_value:.3g}")
    stop = result.trace.stopped_at
    row[3].metric("mSPRT stopped after", f"{stop:,} shoppers" if stop else "did not stop")
    number = st.column_config.NumberColumn
    st.dataframe(
        metrics_frame(result),
        hide_index=True,
        column_config={
            "mean_a": number("A", format="%.4g"),
            "mean_b": number("B", format="%.4g"),
            "difference": number("B − A", format="%.4g"),
            "ci_low": number("95% CI low", format="%.4g"),
            "ci_high": number("95% CI high", format="%.4g"),
            "relative_lift": number("lift", format="percent"),
            "p_value": number("p_value", format="%.3g"),
            "true_difference": number("true B − A", format="%.4g"),
        },
    )
    s = result.sample_ratio
    st.caption(
        f"{result.a} vs {result.b}, seed {result.seed}: {s.n_a:,} shoppers in A, {s.n_b:,} in B "
        f"(sample-ratio χ² p = {s.p_value:.3g}{', MISMATCH' if s.mismatch else ''})."
    )
    st.altair_chart(trace_chart(result), width="stretch")


__all__ = ["TABLE_COLUMNS", "abtest_view", "cli_command", "metrics_frame", "trace_chart"]
