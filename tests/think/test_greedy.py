"""Greedy decoding, with and without a chain of thought (``think: false``)."""

import random

import pytest

from ponder.errors import ConfigError
from ponder.eval.scale import ScaleConfig, run_scale, summarize
from ponder.lm.function import FunctionLM
from ponder.lm.template import THINK_CLOSE
from ponder.think import Budget
from ponder.think.greedy import greedy
from tests.toy import SumTask, nums_of


def thinker(prompt: str, rng: random.Random, temperature: float) -> str:
    """Right with a chain of thought; off by one when made to answer at once."""
    total = sum(nums_of(prompt.split("\n")[0]))
    if prompt.endswith(f"{THINK_CLOSE}\n"):
        return f"Answer: {total + 1}"
    return f"adding up\n{THINK_CLOSE}\nAnswer: {total}"


def test_direct_answers_after_a_closed_thinking_block():
    task = SumTask()
    [p] = task.problems("test", 1, seed=0, difficulty=2)
    lm = FunctionLM(thinker)
    cot = greedy(p, lm, Budget(max_tokens=64))
    direct = greedy(p, lm, Budget(max_tokens=64, options={"think": False}))
    assert cot.answer == p.answer
    assert direct.completion.startswith(THINK_CLOSE) and direct.answer != p.answer
    assert direct.compute.generated_tokens < cot.compute.generated_tokens
    with pytest.raises(ConfigError, match="think"):
        greedy(p, lm, Budget(options={"think": "no"}))


def test_chain_of_thought_vs_direct_paired_in_one_run():
    cfg = ScaleConfig(strategies=["greedy", "direct=greedy"], budgets=[1], n_problems=20,
                      difficulty=[2], max_tokens=64, options={"direct": {"think": False}})
    s = summarize(run_scale(FunctionLM(thinker), SumTask(), cfg))
    acc = {r["strategy"]: r["accuracy"] for r in s["overall"]}
    assert acc == {"greedy": 1.0, "direct": 0.0}
    [pair] = [c for c in s["paired"] if c["b"] == "direct@1"]
    assert pair["diff"] == -1.0 and pair["verdict"] == "worse"
