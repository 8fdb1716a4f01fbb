"""Fuzz: whatever a plugin's code returns, the CLI prints one line or a table — never a
traceback — and never writes a NaN into a results file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from simshop_cli.main import cli
from simshop_core import Items, Recommender, User, hookimpl
from simshop_core.plugins import get_plugin_manager


class FuzzShopper(User):
    name = "fuzz_shopper"
    returns: ClassVar[Any] = None

    def __init__(self, click_threshold: float = 0.5, buy_threshold: float = 0.8) -> None:
        super().__init__(click_threshold=click_threshold, buy_threshold=buy_threshold)

    def utility(self, items: Items, rng: np.random.Generator) -> Any:
        out = self.returns
        if callable(out):
            return out(len(items))
        return out


class FuzzRecommender(Recommender):
    name = "fuzz_recommender"
    returns: ClassVar[Any] = None

    def recommend(self, observation: dict[str, Any], k: int) -> Any:
        out = self.returns
        return out(k) if callable(out) else out


class Plugin:
    @staticmethod
    @hookimpl
    def register_users(register: Any) -> None:
        register(FuzzShopper)

    @staticmethod
    @hookimpl
    def register_recommenders(register: Any) -> None:
        register(FuzzRecommender)


def _raise(n: int) -> Any:
    raise RuntimeError("plugin bug")


floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
utilities = st.one_of(
    st.none(),
    st.just(_raise),
    st.just(lambda n: np.full(n, 0.5)),  # a good one, so some runs succeed
    st.builds(lambda v: lambda n: np.full(n, v), floats),
    st.builds(lambda v, d: lambda n: np.full(max(n + d, 0), 0.5), floats, st.integers(-2, 2)),
    st.builds(lambda n: lambda _: np.zeros(n, dtype=np.int64), st.integers(0, 6)),
    st.lists(floats, max_size=6),
    st.text(max_size=3),
)
slates = st.one_of(
    st.none(),
    st.just(_raise),
    st.just(lambda k: np.arange(k)),  # a good one
    hnp.arrays(
        st.sampled_from([np.int64, np.int8, np.float64]),
        st.integers(0, 7),
        elements=st.integers(-60, 60),
    ),
    hnp.arrays(np.uint64, st.integers(0, 7), elements=st.integers(0, 60)),
    hnp.arrays(np.bool_, st.integers(0, 7)),
    st.lists(st.integers(-60, 60), max_size=7),
)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same examples every run: CI must not be a lottery
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(utility=utilities, slate=slates)
def test_no_traceback_and_no_nan_whatever_a_plugin_returns(tmp_path: Path, utility, slate):
    FuzzShopper.returns, FuzzRecommender.returns = utility, slate
    pm = get_plugin_manager()
    pm.register(Plugin, name="fuzz-plugin")
    out = tmp_path / f"r{np.random.default_rng().integers(1 << 30)}.json"
    try:
        args = ["-r", "fuzz_recommender,popularity", "-u", "fuzz_shopper,cheap_seeker"]
        result = CliRunner().invoke(
            cli, ["evaluate", *args, "--episodes", "2", "--output", str(out)]
        )
    finally:
        pm.unregister(name="fuzz-plugin")
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 1 and not out.exists():
        # Failed before any cell ran: one line.
        assert len(result.output.strip().splitlines()) == 1, result.output
    if out.exists():

        def refuse(constant: str) -> None:
            raise AssertionError(f"{constant} in the results file")

        payload = json.loads(out.read_text(), parse_constant=refuse)
        rows = {(c["user"], c["recommender"]) for c in payload["cells"]}
        assert ("cheap_seeker", "popularity") in rows  # a broken plugin hurts no one else
