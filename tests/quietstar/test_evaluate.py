"""Held-out answer likelihood by thought length and direct accuracy, on a tiny model."""

from __future__ import annotations

import numpy as np

from ponder.quietstar.evaluate import (
    answer_loglik,
    direct_accuracy,
    held_out_examples,
    token_gains,
)
from ponder.quietstar.model import ThoughtConfig
from ponder.tasks import get_task
from tests.quietstar.conftest import tiny_native


def test_answer_loglik_by_length():
    qs = tiny_native(cfg=ThoughtConfig(thought_tokens=2))
    examples = held_out_examples([get_task("arith")], 3, seed=0)
    res = answer_loglik(qs, examples, [0, 2], batch_size=2)
    zero, two = res["by_length"]["0"], res["by_length"]["2"]
    assert res["n_problems"] == 3 and zero["tokens"] == two["tokens"] > 3
    lo, hi = two["gain_vs_0"]["ci95"]
    assert lo <= two["gain_vs_0"]["diff"] <= hi and "gain_vs_0" not in zero
    assert zero["nll_per_token"]["mean"] > 0


def test_token_gains_bins_by_base_difficulty():
    base = -np.array([0.1, 0.2, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    got = token_gains(base, base + np.array([0, 0, 0, 0, 0, 0, 1, 1]), bins=4)
    assert [g["gain"]["mean"] for g in got] == [0.0, 0.0, 0.0, 1.0]


def test_direct_accuracy_has_intervals():
    qs = tiny_native(cfg=ThoughtConfig(thought_tokens=1))
    res = direct_accuracy(qs, [get_task("arith")], 2, [0, 1], batch_size=4)
    assert set(res) == {"0", "1"} and res["1"]["n"] == 2
    assert 0 <= res["1"]["ci95"][0] <= res["1"]["accuracy"] <= res["1"]["ci95"][1] <= 1
    assert "vs_0" in res["1"]
