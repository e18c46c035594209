import doctest
import math
import random

import pytest

import ponder.eval.stats as stats_mod
from ponder.errors import InvalidInput
from ponder.eval.stats import (
    accuracy_by_level,
    binomial_two_sided,
    compare_paired,
    compare_unpaired,
    format_ci,
    format_difference,
    mcnemar,
    newcombe,
    paired_bootstrap,
    wilson,
)


def test_doctests():
    result = doctest.testmod(stats_mod)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("k, n, lo, hi", [
    (50, 100, 0.4038, 0.5962),  # symmetric about 1/2
    (0, 10, 0.0, 0.2775),  # stays inside [0, 1] where the normal interval would not
    (10, 10, 0.7225, 1.0),
    (456, 500, 0.8839, 0.9338),  # 0.912 at n=500, the README's example
    (1, 3, 0.0615, 0.7923),
])
def test_wilson_matches_known_values(k, n, lo, hi):
    got = wilson(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-4)
    assert got[0] <= k / n <= got[1]


def test_wilson_edge_cases_and_bad_counts():
    assert wilson(0, 0) == (0.0, 1.0)  # nothing measured: anything is possible
    assert wilson(3, 4, z=0.0) == pytest.approx((0.75, 0.75))
    for k, n in [(5, 4), (-1, 4), (0, -1)]:
        with pytest.raises(InvalidInput, match="wilson"):
            wilson(k, n)


def test_binomial_two_sided_is_the_exact_tail_sum():
    assert binomial_two_sided(0, 10) == pytest.approx(2 / 1024)  # 0.00195
    assert binomial_two_sided(10, 10) == binomial_two_sided(0, 10)
    assert binomial_two_sided(2, 10) == pytest.approx(2 * (1 + 10 + 45) / 1024)
    assert binomial_two_sided(5, 10) == 1.0 and binomial_two_sided(0, 0) == 1.0
    # large n (integer arithmetic): agrees with the normal approximation, continuity
    # corrected, z = 19.5 / sqrt(250)
    assert binomial_two_sided(480, 1000) == pytest.approx(0.2174, abs=1e-3)


def test_mcnemar_counts_discordant_problems_only():
    a = [False] * 10 + [True] * 40 + [False] * 50  # a right on 40
    b = [True] * 10 + [True] * 40 + [False] * 50  # b right on those and 10 more
    r = mcnemar(a, b)
    assert (r["b01"], r["b10"]) == (10, 0)
    assert r["p_value"] == pytest.approx(0.001953, abs=1e-6)
    assert mcnemar(b, a)["b10"] == 10 and mcnemar(b, a)["p_value"] == r["p_value"]
    same = mcnemar(a, a)
    assert (same["b01"], same["b10"], same["p_value"]) == (0, 0, 1.0)
    with pytest.raises(InvalidInput, match="same problems"):
        mcnemar([True], [True, False])


def test_paired_bootstrap_is_seeded_and_covers_the_difference():
    rng = random.Random(0)
    a = [float(rng.random() < 0.6) for _ in range(300)]
    b = [x if rng.random() < 0.8 else 1.0 - x for x in a]
    r1, r2 = paired_bootstrap(a, b, seed=3), paired_bootstrap(a, b, seed=3)
    assert r1 == r2 and r1["n"] == 300 and r1["n_boot"] == 2000
    assert r1["diff"] == pytest.approx(sum(b) / 300 - sum(a) / 300)
    lo, hi = r1["ci95"]
    assert lo < r1["diff"] < hi
    # the standard error of a mean difference of +-1/0 values: the interval is about
    # 2 * 1.96 * sd / sqrt(n) wide
    d = [y - x for x, y in zip(a, b, strict=True)]
    mean = sum(d) / len(d)
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / len(d))
    assert hi - lo == pytest.approx(2 * 1.96 * sd / math.sqrt(300), rel=0.15)
    assert paired_bootstrap([1.0] * 5, [1.0] * 5)["ci95"] == [0.0, 0.0]
    with pytest.raises(InvalidInput, match="no problems"):
        paired_bootstrap([], [])


def test_compare_paired_verdicts():
    base = [1.0] * 60 + [0.0] * 40
    better = [1.0] * 60 + [1.0] * 20 + [0.0] * 20  # +20 problems, none lost
    r = compare_paired(base, better)
    assert r["verdict"] == "better" and r["diff"] == pytest.approx(0.2)
    assert (r["wins"], r["losses"], r["test"]) == (20, 0, "mcnemar")
    assert r["p_value"] == pytest.approx(2 * 0.5**20) and r["paired"] and r["n"] == 100
    assert compare_paired(better, base)["verdict"] == "worse"
    # 3 gained and 2 lost: an accuracy that is higher, but not a difference
    noisy = [1.0] * 58 + [0.0] * 2 + [1.0] * 3 + [0.0] * 37
    r = compare_paired(base, noisy)
    assert r["diff"] == pytest.approx(0.01) and r["verdict"] == "no difference"
    assert r["ci95"][0] < 0 < r["ci95"][1] and r["p_value"] == 1.0


def test_compare_paired_with_partial_credit_uses_the_sign_test():
    a = [0.5] * 12 + [1.0] * 8
    b = [1.0] * 12 + [1.0] * 8
    r = compare_paired(a, b)
    assert r["test"] == "sign" and (r["wins"], r["losses"]) == (12, 0)
    assert r["diff"] == pytest.approx(0.3) and r["verdict"] == "better"
    assert r["p_value"] == pytest.approx(binomial_two_sided(12, 12))


def test_pairing_is_sharper_than_comparing_independent_samples():
    # b solves every problem a solves and 8 more: clear when paired, unclear unpaired
    a = [1.0] * 50 + [0.0] * 50
    b = [1.0] * 58 + [0.0] * 42
    assert compare_paired(a, b)["verdict"] == "better"
    un = compare_unpaired(50, 100, 58, 100)
    assert un["verdict"] == "no difference" and not un["paired"]
    assert un["p_value"] == pytest.approx(0.2564, abs=1e-4)  # pooled z-test, z = 1.135


def test_newcombe_matches_the_published_example():
    # Newcombe (1998), Table II example (56/70 vs 48/80), method 10: 0.0524 to 0.3339
    assert newcombe(48, 80, 56, 70) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    with pytest.raises(InvalidInput, match="n >= 1"):
        newcombe(0, 0, 1, 2)


def test_format_ci():
    assert format_ci(0.912, wilson(456, 500), n=500) == "0.912 [0.884, 0.934] (n=500)"
    assert format_ci(0.98, [0.95, 0.99], digits=2, compact=True) == "0.98 [0.95,0.99]"


def test_accuracy_by_level_groups_records_by_difficulty():
    records = ([{"difficulty": 3, "correct": True}] * 3 + [{"difficulty": 3, "correct": False}]
               + [{"difficulty": 1, "correct": False}] * 2)
    levels = accuracy_by_level(records)
    assert list(levels) == ["1", "3"]  # in level order
    assert levels["3"]["accuracy"] == 0.75 and levels["3"]["n"] == 4
    assert levels["1"]["accuracy"] == 0.0 and levels["1"]["ci95"] == wilson(0, 2)


def test_format_difference_signs_both_ends_and_gives_the_verdict():
    cmp = compare_paired([0.0] * 50 + [1.0] * 50, [1.0] * 60 + [0.0] * 40)
    text = format_difference(cmp)
    assert text.startswith("+0.100 [") and text.endswith(f"] -> {cmp['verdict']}")
