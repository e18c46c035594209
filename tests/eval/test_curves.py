import math

import pytest

from ponder.eval.curves import (
    compute_to_reach,
    coverage_curve,
    efficiency_ratio,
    fit_power_law,
    pass_at_k,
)


def test_pass_at_k_matches_brute_force_over_subsets():
    from itertools import combinations

    n, c = 6, 2
    outcomes = [1] * c + [0] * (n - c)
    for k in range(1, n + 1):
        subsets = list(combinations(outcomes, k))
        brute = sum(any(s) for s in subsets) / len(subsets)
        assert pass_at_k(n, c, k) == pytest.approx(brute)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_power_law_fit_recovers_parameters():
    a, b = -0.9, -0.4
    curve = {k: math.exp(a * k ** b) for k in (1, 2, 4, 8, 16, 32)}
    fit = fit_power_law(curve)
    assert fit["a"] == pytest.approx(a, rel=1e-6)
    assert fit["b"] == pytest.approx(b, rel=1e-6)
    assert fit["r2"] == pytest.approx(1.0)


def test_coverage_averages_problems():
    cov = coverage_curve([(4, 4), (4, 0)], [1, 2])
    assert cov == {1: 0.5, 2: 0.5}


def test_efficiency_ratio_detects_a_4x_cheaper_curve():
    base = [(1.0, 0.2), (4.0, 0.4), (16.0, 0.6)]
    cand = [(0.25, 0.2), (1.0, 0.4), (4.0, 0.6)]
    eff = efficiency_ratio(base, cand)
    assert eff["median"] == pytest.approx(4.0) and eff["levels"] == 3
    assert compute_to_reach(cand, 0.9) is None


def test_curves_with_zero_compute_interpolate_linearly_instead_of_failing():
    # a backend that reports no FLOPs (HTTPLM without flops_per_token) gives 0.0 points
    assert compute_to_reach([(0.0, 0.2), (10.0, 0.6)], 0.4) == pytest.approx(5.0)
    assert compute_to_reach([(0.0, 0.5)], 0.4) == 0.0
    eff = efficiency_ratio([(0.0, 0.2), (8.0, 0.6)], [(0.0, 0.2), (2.0, 0.6)])
    assert eff["max"] == pytest.approx(4.0) and eff["levels"] == 1  # 0/0 is left out


def test_doctests():
    import doctest

    import ponder.eval.curves as curves_mod

    result = doctest.testmod(curves_mod)
    assert result.attempted > 0 and result.failed == 0
