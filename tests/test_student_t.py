"""The t quantile behind every confidence interval."""

from __future__ import annotations

import math

import pytest
from scipy.special import stdtrit

from simshop_core.student_t import t_quantile

DFS = [*range(1, 60), 99, 100, 250, 999, 1000, 1001, 4321, 10**5, 10**6]


@pytest.mark.parametrize("p", [0.6, 0.75, 0.9, 0.95, 0.975, 0.99, 0.999, 0.99999, 0.025, 0.3])
def test_t_quantile_matches_scipy(p: float) -> None:
    for df in DFS:
        assert t_quantile(p, df) == pytest.approx(float(stdtrit(df, p)), rel=1e-11, abs=0)


def test_t_quantile_near_the_median_follows_the_density() -> None:
    # For p → 1/2, t ≈ (p − 1/2) / f(0), f(0) = Γ((ν+1)/2) / (Γ(ν/2) √(νπ)).
    for df in (2, 4, 17, 500):
        f0 = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
        assert t_quantile(0.5 + 1e-9, df) == pytest.approx(1e-9 / f0, rel=1e-6)
    assert t_quantile(0.5, 7) == 0.0


def test_t_quantile_refuses_what_has_no_quantile() -> None:
    for p, df in ((0.0, 3), (1.0, 3), (0.5, 0), (float("nan"), 3)):
        with pytest.raises(ValueError):
            t_quantile(p, df)
