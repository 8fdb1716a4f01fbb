"""The SimShop app: pick a shopper and a recommender and watch the visit, page by page.

Run it with ``simshop ui`` or ``streamlit run`` on this file. Streamlit reruns the script on
every interaction, so this file only lays out widgets: the stepping, the cards, the comparison
and the training curves live in plain modules next to it. Plugin discovery is cached with
``st.cache_resource``; "Reload plugins" clears it (a plugin pip-installed while the app runs
shows up only then).
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd
import streamlit as st

import simshop_core
from simshop_core.bounds import MAX_EPISODES, SEED_MAX
from simshop_core.catalog import Catalog
from simshop_core.registry import Registry
from simshop_ui import abtest, cards, choices, compare, training
from simshop_ui.session import Session

# Bought and clicked cards get a coloured border (keyed containers carry `st-key-<key>`).
CARD_STYLE = """
<style>
[class*="st-key-card-"][class*="-bought"] { border-color: #2e7d32; background: #2e7d3214; }
[class*="st-key-card-"][class*="-clicked"] { border-color: #1565c0; background: #1565c00d; }
</style>
"""


@st.cache_resource(show_spinner=False)
def load_registry() -> Registry:
    return simshop_core.get_registry()


@st.cache_resource(show_spinner=False)
def load_catalog() -> Catalog:
    # The default catalog, as `simshop evaluate` uses without --catalog.
    return simshop_core.generate_catalog()


def reload_plugins() -> None:
    simshop_core.reload_plugins()
    load_registry.clear()
    # The session holds classes from the old plugins: build it again.
    st.session_state.pop("session_key", None)


# --- sidebar -------------------------------------------------------------------------------


class Choice(NamedTuple):
    """What the sidebar asks for: the two specs, the seed, the click model and the shopper
    dynamics; ``error`` is the one line to show instead when the typed parameters are
    malformed."""

    user: str
    recommender: str
    seed: int
    click_model: str
    error: str | None = None
    dynamics: tuple[str, ...] = ()


def parameters_input(kind: choices.Kind, name: str, registry: Registry) -> str:
    """The chosen class's parameters as ``key=value`` text, its defaults as the placeholder."""
    if not choices.takes_parameters(kind, name, registry):
        return ""
    params = choices.parameters(kind, name, registry)
    return st.text_input(
        "Shopper parameters" if kind == "user" else "Recommender parameters",
        key=f"params:{kind}:{name}",
        placeholder=choices.parameter_placeholder(kind, params),
        help=choices.parameter_help(kind, params),
    )


def sidebar(registry: Registry) -> Choice | None:
    """The session's choices, or None if there is no shopper to pick."""
    users = choices.shopper_options(registry)
    recommenders = choices.recommender_options(registry)
    with st.sidebar:
        st.title("🛍️ SimShop")
        user_params = ""
        if users:
            user = st.selectbox("Shopper", users, key="shopper")
            st.caption(choices.description("user", user, registry))
            user_params = parameters_input("user", user, registry)
        else:
            user = None
            st.error("No shopper models are installed (see `simshop list-plugins`).")
        recommender = st.selectbox(
            "Recommender",
            recommenders,
            index=recommenders.index(choices.preferred_recommenders(recommenders)[0]),
            key="recommender",
            format_func=choices.recommender_caption,
        )
        st.caption(choices.description("recommender", recommender, registry))
        model = None
        if choices.is_trainable(recommender, registry):
            model = st.selectbox(
                "Saved model",
                choices.model_options(),
                key=f"model:{recommender}",
                help="The model the plugin ships, or a *.zip under ./models or ./runs.",
            )
        recommender_params = parameters_input("recommender", recommender, registry)
        click_model = click_model_input("click_model")
        dynamics = dynamics_input("dynamics")
        seed = int(
            st.number_input("Seed", min_value=0, max_value=SEED_MAX, value=0, step=1, key="seed")
        )
        st.divider()
        st.button(
            "Reload plugins",
            key="reload_plugins",
            on_click=reload_plugins,
            width="stretch",
            help="The plugin list is cached: press this after `pip install`-ing a plugin.",
        )
        entries = [*registry.users.values(), *registry.recommenders.values()]
        plugins = len({entry.plugin for entry in entries})
        st.caption(
            f"{len(users)} shoppers and {len(recommenders) - 1} recommenders from "
            f"{plugins} plugin(s). Installed a plugin while the app runs? Reload plugins."
        )
    if user is None:
        return None
    path = None if model in (None, choices.SHIPPED_MODEL) else model
    try:
        user_spec = choices.build_spec(user, None, user_params)
        recommender_spec = choices.build_spec(recommender, path, recommender_params)
    except ValueError as exc:
        return Choice(user, recommender, seed, click_model, _message(exc), dynamics)
    return Choice(user_spec, recommender_spec, seed, click_model, dynamics=dynamics)


def click_model_input(key: str) -> str:
    return st.selectbox(
        "Click model",
        choices.click_model_options(),
        key=key,
        help=(
            "How position shapes what the shopper looks at. **default**: a trained "
            "recommender's own click model, else threshold; **threshold**: every shown item "
            "is examined; **pbm**: position i is examined with probability 1/log2(i+2); "
            "**cascade**: the shopper reads top-down and stops at the first click."
        ),
    )


def dynamics_input(key: str) -> tuple[str, ...]:
    return tuple(
        st.multiselect(
            "Shopper dynamics",
            choices.DYNAMICS_OPTIONS,
            key=key,
            help=(
                "Each off unless chosen, on with its defaults (formulas: "
                "`simshop_core.dynamics`). **fatigue**: interest falls with an item's "
                "exposures and with pages seen; **seasonality**: category tastes follow a "
                "calendar; **budget**: a shopper stops buying once spent; **churn**: a poor "
                "visit makes a return less likely; **cold_start**: new items arrive over time "
                "with no popularity."
            ),
        )
    )


def plugin_warnings(registry: Registry) -> None:
    for error in registry.errors:
        where = f" (distribution {error.distribution})" if error.distribution else ""
        st.warning(
            f"Plugin **{cards.escape(error.plugin)}**{cards.escape(where)} could not be "
            f"loaded: {cards.escape(error.error)}  \nEverything else works; "
            "`simshop list-plugins` shows the details.",
            icon="⚠️",
        )


# --- session view ---------------------------------------------------------------------------


def current_session(choice: Choice, catalog: Catalog) -> Session | None:
    """The session for these choices, built anew when they change."""
    key = (choice.user, choice.recommender, choice.seed, choice.click_model, choice.dynamics)
    if st.session_state.get("session_key") != key:
        st.session_state["session_key"] = key
        st.session_state.pop("session", None)
        st.session_state.pop("session_error", None)
        try:
            with st.spinner(f"Starting {choice.recommender} …"):
                st.session_state["session"] = Session(
                    choice.user,
                    choice.recommender,
                    choice.seed,
                    catalog,
                    env_options=choices.env_options(choice.click_model, choice.dynamics),
                )
        except Exception as exc:  # a bad parameter, a broken plugin or a missing model
            st.session_state["session_error"] = (
                f"Cannot start {choice.user} with {choice.recommender}: {_message(exc)}"
            )
    return st.session_state.get("session")


def act(method: str) -> None:
    """A button's callback: step the session, keeping any error for the page to show."""
    session = st.session_state.get("session")
    if session is None:
        return
    try:
        getattr(session, method)()
        st.session_state.pop("session_error", None)
    except Exception as exc:
        st.session_state["session_error"] = f"{method.replace('_', ' ')} failed: {_message(exc)}"


def session_view(choice: Choice | None, catalog: Catalog) -> None:
    if choice is None:
        st.info("Install a shopper model to start a session.")
        return
    if choice.error is not None:
        st.error(cards.escape(choice.error))
        return
    session = current_session(choice, catalog)
    if st.session_state.get("session_error"):
        st.error(cards.escape(st.session_state["session_error"]))
    if session is None:
        return

    buttons = st.columns(4)
    for column, (label, method, disabled) in zip(
        buttons,
        [
            ("Next page", "next_page", session.done),
            ("Play visit to end", "play_to_end", session.done),
            ("New visit", "new_visit", False),
            ("New shopper", "new_shopper", False),
        ],
        strict=True,
    ):
        column.button(
            label,
            key=f"btn_{method}",
            on_click=act,
            args=(method,),
            disabled=disabled,
            type="primary" if method == "next_page" else "secondary",
            width="stretch",
        )
    st.markdown(
        f"Shopper **#{session.shopper_id}** ({cards.escape(session.user_label)}) · "
        f"visit **{session.visit}** of {session.visits_per_shopper} · recommender "
        f"**{cards.escape(session.recommender_label)}** · click model "
        f"**{cards.escape(session.click_model)}** · seed {session.seed}"
    )
    if not session.pages:
        st.info("A new visit has started. Press **Next page** to show the first slate.")
        return

    page = session.pages[-1]
    previous = session.pages[-2] if len(session.pages) > 1 else None
    st.subheader(f"Page {page.number}")
    metrics = st.columns(6)
    metrics[0].metric(
        "Page reward",
        f"{page.reward:+.3f}",
        delta=f"{page.reward - previous.reward:+.3f}" if previous else None,
    )
    metrics[1].metric("Page CTR", f"{page.ctr:.2f}")
    metrics[2].metric("Page BTR", f"{page.btr:.2f}")
    metrics[3].metric("Visit reward", f"{session.total_reward:+.3f}")
    metrics[4].metric("Clicks", session.total_clicks)
    metrics[5].metric("Buys", session.total_buys)

    st.html(CARD_STYLE)
    columns = st.columns(len(page.items))
    for slot, (column, item) in enumerate(zip(columns, page.items, strict=True)):
        with column.container(border=True, key=f"card-{slot}-{cards.status(item)}"):
            st.markdown(cards.card_markdown(item, session.shows_examination))

    if session.summary is not None:
        summary = session.summary
        with st.container(key="visit-summary"):
            st.success(
                f"**Visit over** after {summary.pages} page(s): {summary.reason}. "
                "Start a new visit or a new shopper."
            )
            row = st.columns(5)
            row[0].metric("Visit reward", f"{summary.reward:+.3f}")
            row[1].metric("Clicks", summary.clicks)
            row[2].metric("Buys", summary.buys)
            row[3].metric("Visit CTR", f"{summary.ctr:.2f}")
            row[4].metric("Visit BTR", f"{summary.btr:.2f}")

    history = pd.DataFrame(session.page_table())
    left, right = st.columns(2)
    with left:
        st.caption("Reward per page")
        st.line_chart(history, x="page", y="reward", height=220)
    with right:
        st.caption("CTR and BTR per page")
        st.line_chart(history, x="page", y=["CTR", "BTR"], height=220)


# --- compare page ---------------------------------------------------------------------------


def compare_view(registry: Registry, catalog: Catalog) -> None:
    st.subheader("Compare recommenders")
    st.caption(
        "Every cell runs its visits with its own seed from the master seed. Random and the "
        "oracle run in every comparison: the normalised score is 0 for random, 1 for the oracle."
    )
    users = choices.shopper_options(registry)
    options = choices.compare_options(registry)
    chosen_users = st.multiselect("Shoppers", users, default=users, key="compare_users")
    chosen = st.multiselect(
        "Recommenders",
        options,
        default=choices.preferred_recommenders(
            choices.recommender_options(registry, with_oracle=False)
        ),
        key="compare_recommenders",
    )
    spec_help = (
        "Specs NAME[:PATH][:key=value]…, separated by commas; they run besides the ones "
        "chosen above, each labelled by its spec."
    )
    left, right = st.columns(2)
    typed_users = left.text_input(
        "More shoppers",
        key="compare_typed_users",
        placeholder="cheap_seeker:pivot=30",
        help=spec_help,
    )
    typed = right.text_input(
        "More recommenders",
        key="compare_typed_recommenders",
        placeholder="popularity:explore=0.1, ppo:mode=greedy",
        help=spec_help,
    )
    left, middle, right = st.columns(3)
    episodes = int(
        left.number_input(
            "Visits per cell",
            min_value=1,
            max_value=MAX_EPISODES,
            value=100,
            step=10,
            key="compare_episodes",
        )
    )
    seed = int(
        middle.number_input(
            "Seed", min_value=0, max_value=SEED_MAX, value=0, step=1, key="compare_seed"
        )
    )
    with right:
        env_options = choices.env_options(
            click_model_input("compare_click_model"), dynamics_input("compare_dynamics")
        )
    try:
        chosen_users = compare.with_typed(chosen_users, compare.typed_specs(typed_users))
        chosen = compare.with_typed(chosen, compare.typed_specs(typed))
    except ValueError as exc:
        st.error(cards.escape(_message(exc)))
        return
    st.caption("The same numbers from the command line:")
    st.code(
        compare.cli_command(chosen_users, chosen, episodes, seed, env_options),
        language="bash",
        wrap_lines=True,
    )

    if st.button("Run comparison", key="compare_run", type="primary", disabled=not chosen_users):
        bar = st.progress(0.0, text="Running the evaluation grid …")
        shown = [-1]

        def progress(fraction: float) -> None:
            percent = int(fraction * 100)
            if percent != shown[0]:  # one update per percent, not per visit
                shown[0] = percent
                bar.progress(fraction, text=f"Running the evaluation grid … {percent}%")

        try:
            result = compare.run_comparison(
                chosen_users, chosen, episodes, seed, catalog, progress, env_options
            )
        except Exception as exc:
            st.session_state.pop("compare_result", None)
            st.error(f"The comparison failed: {cards.escape(_message(exc))}")
        else:
            st.session_state["compare_result"] = result
        bar.empty()

    result = st.session_state.get("compare_result")
    if result is None:
        return
    st.caption(
        f"{result.episodes} visits per cell, seed {result.seed}; mean reward per visit with "
        "its 95% confidence interval (shoppers are the independent units)."
    )
    frame = compare.results_frame(result)
    number = st.column_config.NumberColumn
    st.dataframe(
        frame,
        hide_index=True,
        height=38 + 35 * len(frame),  # every row, no inner scrolling
        column_config={
            "mean_reward": number("mean reward", format="%.3f"),
            "ci_low": number("95% CI low", format="%.3f"),
            "ci_high": number("95% CI high", format="%.3f"),
            "ctr": number("CTR", format="%.3f"),
            "btr": number("BTR", format="%.3f"),
            "normalised_score": number("normalised score", format="%.3f"),
            "mean_length": number("pages per visit", format="%.2f"),
            "regret": number("regret vs oracle", format="%.1f"),
        },
    )
    st.altair_chart(compare.reward_chart(frame), width="stretch")
    learning = compare.learning_chart(result)
    if learning is not None:
        st.caption(
            "Learners: mean visit reward per window of visits, and the cumulative regret "
            "against the oracle (the same shoppers' visits under the oracle's slates)."
        )
        st.altair_chart(learning)


# --- training page --------------------------------------------------------------------------


def training_view() -> None:
    st.subheader("Training runs")
    root = st.text_input("Runs folder", value=training.DEFAULT_RUNS_DIR, key="runs_dir")
    runs = [str(run) for run in training.find_runs(root)]
    if not runs:
        st.info(
            f"No training runs under `{root}` yet. `simshop train` writes one there "
            "(stable-baselines3's progress.csv), e.g. "
            "`simshop train --recommender ppo --timesteps 20000 --output models/ppo.zip`."
        )
        return
    run = st.selectbox("Run", runs, key="training_run")
    st.button("Refresh", key="training_refresh", help="Read the log again (training may go on).")
    frame = training.read_progress(run)
    metrics = training.metric_columns(frame)
    if not metrics:
        st.info("This run has logged nothing yet.")
        return
    chosen = st.multiselect(
        "Metrics", metrics, default=training.default_metrics(metrics), key=f"metrics:{run}"
    )
    for metric in chosen:
        st.altair_chart(training.curve_chart(frame, metric), width="stretch")
    st.caption(
        f"{len(frame)} log rows from `{run}/{training.PROGRESS_FILE}`. "
        f"TensorBoard shows the same run: `tensorboard --logdir {run}`."
    )


def _message(exc: BaseException) -> str:
    """One line: a ValueError's message as it is (it says what is wrong and what is
    accepted); anything else with its type, as it is a bug somewhere."""
    message = str(exc).strip().splitlines()
    if isinstance(exc, ValueError) and message:
        return message[0]
    return f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__


def main() -> None:
    st.set_page_config(page_title="SimShop", page_icon="🛍️", layout="wide")
    registry = load_registry()
    catalog = load_catalog()
    choice = sidebar(registry)
    plugin_warnings(registry)
    session_tab, compare_tab, training_tab, ab_tab = st.tabs(
        ["Session", "Compare", "Training", "A/B test"]
    )
    with session_tab:
        session_view(choice, catalog)
    with compare_tab:
        compare_view(registry, catalog)
    with training_tab:
        training_view()
    with ab_tab:
        abtest.abtest_view(registry, catalog)


main()
