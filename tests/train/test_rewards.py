import doctest

import pytest

import ponder.train.rewards as rewards_mod
from ponder.errors import ConfigError, UnknownName
from ponder.tasks.base import Problem
from ponder.train.rewards import (
    RewardConfig,
    compute_rewards,
    overlong_penalty,
    process_reward,
    task_verifier,
    verifier_reward,
)
from ponder.verify.rewards import think_format_reward


def test_doctests():
    assert doctest.testmod(rewards_mod).failed == 0


P = Problem("p1", "toy", "2+3?", "5", 1)


def exact(problem, text):
    from ponder.verify.answers import extract_answer

    got = extract_answer(text)
    return None if got is None else float(got == problem.answer)


class _Task:
    name = "toy"

    def verify(self, problem, text):
        return exact(problem, text)


def test_verifier_reads_only_the_visible_answer():
    comps = ["2+3=5\n</think>\nAnswer: 5",
             "2+3=5\n</think>\nAnswer: 6",
             "2+3=5\nAnswer: 5",  # never closed its thinking: no answer
             "</think>\n"]  # closed, but empty answer
    assert verifier_reward([P] * 4, comps, exact) == [1.0, 0.0, None, None]


def test_task_verifier_dispatches_by_task_name():
    v = task_verifier([_Task()])
    assert v(P, "Answer: 5") == 1.0
    with pytest.raises(UnknownName):
        v(Problem("q", "other", "?", "1", 1), "Answer: 1")


def test_format_reward():
    assert think_format_reward(["x\n</think>\nAnswer: 5", "</think>\nAnswer: 5\n",
                          "x\n</think>\n</think>\nAnswer: 5", "x\n</think>\n5",
                          "<think>\nx\n</think>\nAnswer: 5", "x\n</think>\nAnswer: "]) == \
        [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]


def test_overlong_penalty_and_validation():
    assert overlong_penalty([0, 50, 75, 99, 100, 130], 100, 50) == \
        [0.0, 0.0, -0.5, pytest.approx(-0.98), -1.0, -1.0]
    # per-completion caps; a cap shorter than the window uses the whole cap
    assert overlong_penalty([5, 5], [100, 10], 50) == [0.0, -0.5]
    with pytest.raises(ConfigError):
        overlong_penalty([1], 10, 0)


def test_process_reward_aggregates():
    s = [[0.9, 0.5, 0.7]]
    assert process_reward(s, "min") == [0.5]
    assert process_reward(s, "last") == [0.7]
    assert process_reward(s, "mean") == [pytest.approx(0.7)]
    with pytest.raises(ConfigError):
        process_reward(s, "max")


class _PRM:
    flops_per_token = 1.0

    def score_steps(self, prompts, completions):
        return [[0.5] * len(c.splitlines()) for c in completions]


def test_compute_rewards_adds_enabled_terms():
    comps = ["a\n</think>\nAnswer: 5", "a\nb\n</think>\nAnswer: 4", "a\nb\nc"]
    lengths = [10, 95, 100]
    plain = compute_rewards(RewardConfig(no_answer=-0.5), [P] * 3, ["q"] * 3, comps, lengths,
                            100, exact)
    assert plain.total == [1.0, 0.0, -0.5]
    assert plain.correct == [1.0, 0.0, 0.0]
    shaped = compute_rewards(RewardConfig(format_weight=0.1, overlong_cache=10, prm_weight=1.0),
                             [P] * 3, ["q"] * 3, comps, lengths, 100, exact, prm=_PRM())
    assert shaped.parts["format"] == [1.0, 1.0, 0.0]
    assert shaped.parts["length"] == [0.0, -0.5, -1.0]
    assert shaped.parts["process"] == [0.5, 0.5, 0.5]
    assert shaped.total == pytest.approx([1.6, 0.1, -0.5])
    with pytest.raises(ConfigError, match="process reward model"):
        compute_rewards(RewardConfig(prm_weight=1.0), [P], ["q"], comps[:1], [1], 100, exact)


def test_shaping_terms_are_added_by_name_and_weight():
    p = Problem("1", "lucky", "Guess", "7", 1)
    texts = ["x\n</think>\nAnswer: 7", "x\nAnswer: 7", "x\n</think>\nAnswer: 3"]

    def verify(problem, text):
        return float(text.strip().endswith(problem.answer))

    cfg = RewardConfig(shaping={"format": 0.5, "explicit_answer": 0.25})
    rw = compute_rewards(cfg, [p] * 3, [""] * 3, texts, [5] * 3, 100, verify)
    assert rw.parts["format"] == [1.0, 0.0, 1.0]
    assert rw.parts["explicit_answer"] == [1.0, 1.0, 1.0]
    assert rw.total == [1.75, 0.25, 0.75]  # the second has no visible answer: 0 + shaping
    with pytest.raises(UnknownName, match="shaping term"):
        RewardConfig(shaping={"length": 1.0})
