import doctest
from math import comb

import pytest

import ponder.eval.traces as traces_mod
from ponder.errors import InvalidInput
from ponder.eval.traces import count_backtracks, mean_pass_at_k, pass_at_k, trace_stats


def test_doctests():
    assert doctest.testmod(traces_mod).failed == 0


@pytest.mark.parametrize("n,c,k", [(10, 3, 1), (10, 3, 4), (20, 1, 10), (7, 0, 3), (5, 5, 5),
                                   (100, 7, 50)])
def test_pass_at_k_matches_combinatorial_formula(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k))


def test_pass_at_k_is_monotone_in_k_and_validates():
    vals = [pass_at_k(16, 2, k) for k in range(1, 17)]
    assert vals == sorted(vals) and vals[-1] == 1.0
    assert pass_at_k(16, 2, 1) == pytest.approx(2 / 16)
    assert mean_pass_at_k([0, 4], n=4, k=1) == pytest.approx(0.5)
    with pytest.raises(InvalidInput):
        pass_at_k(4, 5, 1)
    with pytest.raises(InvalidInput):
        pass_at_k(4, 1, 5)


def test_backtracks_counted_only_in_thinking():
    c = ("1+2=3: 3 4\nback: 1 2 4\n3*4=12: 12\nBacktrack again\n</think>\n"
         "Answer: backtrack")
    assert count_backtracks(c) == 2
    assert count_backtracks("1+2=3\n</think>\nAnswer: 3") == 0


def test_trace_stats():
    comps = ["a\nb\nbacktrack\nc\n</think>\nAnswer: 1",  # 4 steps, 1 backtrack, correct
             "a\n</think>\nAnswer: 2",  # 1 step, wrong
             "a\nbacktrack\nbacktrack\nb"]  # never answers
    s = trace_stats(comps, correct=[True, False, False], tokens=[30, 10, 20])
    assert s.traces == 3
    assert s.mean_steps == pytest.approx(9 / 3)
    assert s.backtracks_per_trace == pytest.approx(1.0)
    assert s.traces_with_backtrack == pytest.approx(2 / 3)
    assert s.self_corrections_per_trace == pytest.approx(1 / 3)
    assert s.answered == pytest.approx(2 / 3)
    assert s.mean_tokens == pytest.approx(20.0)
    with pytest.raises(InvalidInput):
        trace_stats([])


def test_sample_report_pass_at_k_from_a_noisy_policy():
    from ponder.eval.traces import sample_report
    from tests.toy import SumTask, noisy_policy

    rep = sample_report(noisy_policy(p_step=0.7), SumTask(), n=12, k=8, difficulty=2,
                        max_tokens=64)
    p = rep["pass_at"]
    assert list(p) == ["1", "2", "4", "8"]
    # 3 steps right with prob 0.7^3 ~ 0.34 each; more samples solve more problems
    assert 0.1 < p["1"] < 0.6
    assert p["1"] < p["2"] < p["4"] <= p["8"]
    assert rep["traces"]["traces"] == 96 and rep["traces"]["answered"] == 1.0
    assert rep["traces"]["mean_steps"] == 3.0
    counts = rep["correct_counts"]  # per problem id, consistent with pass@k
    assert len(counts) == 12 and all(0 <= c <= 8 for c in counts.values())
    assert abs(sum(counts.values()) / 96 - p["1"]) < 1e-9
    assert p["8"] == sum(c > 0 for c in counts.values()) / 12
