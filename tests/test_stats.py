"""`simshop_core.stats`, the one statistics module (quantiles, binomial and chi-square tails),
against SciPy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import bdtr, bdtrc, chdtrc, ndtri, stdtrit

from simshop_core.stats import (
    binomial_at_least,
    binomial_cdf,
    chi_square_sf,
    normal_quantile,
    t_quantile,
    t_quantiles,
)

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


@pytest.mark.parametrize("p", [1e-12, 0.001, 0.025, 0.3, 0.5, 0.6, 0.8, 0.9, 0.975, 0.999999])
def test_normal_quantile_matches_scipy(p: float) -> None:
    assert normal_quantile(p) == pytest.approx(float(ndtri(p)), rel=1e-15, abs=1e-300)
    assert t_quantile(p, math.inf) == normal_quantile(p)


def test_normal_quantile_refuses_what_has_no_quantile() -> None:
    for p in (0.0, 1.0, float("nan"), -0.1):
        with pytest.raises(ValueError):
            normal_quantile(p)


def test_t_quantiles_is_t_quantile_per_element() -> None:
    df = np.array([[3.0, 2500.5, np.inf], [np.nan, 3.0, 41.7]])
    got = t_quantiles(0.975, df)
    assert got.shape == df.shape and math.isnan(got[1, 0])
    for i, j in [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2)]:
        assert got[i, j] == t_quantile(0.975, df[i, j])
    assert got[0, 2] == normal_quantile(0.975)


def test_binomial_tails_match_scipy() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 50, 1000, 200_000):
        # log Γ(n) ~ n log n is computed to ~1e-16 relative, so a tail's relative error grows
        # with n (measured: 9e-14 at n = 50, 9e-10 at 200,000; the checks need ~1e-3).
        rel = 1e-13 + 1e-14 * n
        for p in (0.0, 1e-6, 0.013, 0.5, 0.77, 1.0 - 1e-9, 1.0, *rng.uniform(0, 1, 3)):
            for k in {0, 1, n // 3, n // 2, n - 1, n, int(n * p)}:
                want_cdf, want_sf = float(bdtr(k, n, p)), float(bdtrc(k - 1, n, p))
                assert binomial_cdf(k, n, p) == pytest.approx(want_cdf, rel=rel, abs=1e-300)
                assert binomial_at_least(k, n, p) == pytest.approx(want_sf, rel=rel, abs=1e-300)
    assert binomial_cdf(-1, 5, 0.5) == 0.0 and binomial_at_least(6, 5, 0.5) == 0.0
    # Tails far below the plugin checks' 2.9e-7 threshold are still accurate.
    assert binomial_cdf(10, 10_000, 0.01) == pytest.approx(float(bdtr(10, 10_000, 0.01)), rel=1e-9)


def test_chi_square_sf_matches_scipy() -> None:
    for df in (1, 2, 3, 7, 30, 299, 5000):
        for x in (0.0, 1e-8, 0.5, 1.0, df - 1.0, df, df + 3 * math.sqrt(2 * df), 10.0 * df + 40):
            want = float(chdtrc(df, max(x, 0.0)))
            assert chi_square_sf(x, df) == pytest.approx(want, rel=1e-10, abs=1e-300), (df, x)
    assert chi_square_sf(-1.0, 3) == 1.0
    with pytest.raises(ValueError):
        chi_square_sf(1.0, 0)


def test_t_quantiles_large_df_is_the_scalar_expansion_bit_for_bit() -> None:
    # The array path sums the Cornish–Fisher expansion itself; it must be t_quantile's number.
    df = np.exp(np.random.default_rng(1).uniform(np.log(1000), 30, 20_000))
    for p in (0.6, 0.975, 0.9995, 0.01):
        assert np.array_equal(t_quantiles(p, df), [t_quantile(p, d) for d in df])
