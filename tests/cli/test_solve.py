"""``ponder solve`` answers through ponder.think: greedy by default, any strategy with
--strategy, or the server's reasoning_effort plans with --effort."""

import doctest
import random

import pytest

import ponder.cli.solve as solve_mod
from ponder.lm.function import FunctionLM
from ponder.lm.template import THINK_CLOSE, format_prompt
from ponder.serve.effort import EffortPolicy, Plan
from ponder.tasks import get_task
from tests.cli.runner import run
from tests.think.fakes import RecordingLM
from tests.toy import chat_layout, own_layout


def guesser(right: str, p_right: float = 0.6) -> RecordingLM:
    """Thinks one line, then answers ``right`` with probability ``p_right`` when sampling
    (always when greedy), else a wrong number."""

    def fn(prompt: str, rng: random.Random, temperature: float) -> str:
        if prompt.endswith("Answer:"):  # the answer after a forced end of thinking
            return f" {right}"
        ok = temperature == 0 or rng.random() < p_right
        return f"working\n{THINK_CLOSE}\nAnswer: {right if ok else rng.randrange(1000, 2000)}"

    return RecordingLM(FunctionLM(fn, max_context=512))


@pytest.fixture
def lm(monkeypatch):
    model = guesser("4")
    monkeypatch.setattr(solve_mod, "load_lm", lambda spec: model)
    return model


def test_doctests():
    assert doctest.testmod(solve_mod).failed == 0


def test_default_is_one_greedy_chain_of_thought_capped_by_the_context(lm, capsys):
    code, out, _ = run(capsys, "solve", "What is 2 + 2?", "--max-tokens", "2000",
                       "--seed", "7")
    assert code == 0 and "answer: 4" in out and "samples" not in out
    prompt = format_prompt("What is 2 + 2?")
    assert lm.calls == [{"prompts": [prompt], "n": 1, "temperature": 0.0, "seed": 7,
                         "max_tokens": 512 - len(prompt)}]


def test_strategy_draws_its_samples_with_the_given_settings(lm, capsys):
    code, out, _ = run(capsys, "solve", "What is 2 + 2?", "--strategy", "vote", "--n", "9",
                       "--temperature", "0.6", "--max-tokens", "40")
    assert code == 0 and "answer: 4" in out and "vote: 9 samples" in out
    assert len(lm.completions) == 9
    assert {(c["temperature"], c["max_tokens"]) for c in lm.calls} == {(0.6, 40)}


def test_options_reach_the_strategy_and_a_drawn_problem_is_verified(monkeypatch, capsys):
    [p] = get_task("arith").problems("test", 1, seed=3, difficulty=2)
    model = guesser(p.answer)
    monkeypatch.setattr(solve_mod, "load_lm", lambda spec: model)
    code, out, _ = run(capsys, "solve", "--task", "arith", "-d", "2", "--seed", "3",
                       "--strategy", "budget", "--n", "1", "-o", "think_tokens=3",
                       "-o", "answer_tokens=20")
    assert code == 0 and "verified: yes" in out and "budget: 2 samples" in out
    # the thinking was cut at 3 tokens and the answer forced
    assert model.prompts[1].endswith("wor\n</think>\nAnswer:")
    code, _, err = run(capsys, "solve", "Q?", "--strategy", "vote", "-o", "beam_width=2")
    assert code == 2 and "vote: unknown option(s) ['beam_width']" in err


def test_effort_runs_the_servers_plan_for_that_level(monkeypatch, lm, capsys):
    code, out, _ = run(capsys, "solve", "What is 2 + 2?", "--effort", "low")
    assert code == 0 and "effort low (low): greedy: 1 sample," in out
    assert lm.calls[-1]["temperature"] == 0.0
    code, out, _ = run(capsys, "solve", "What is 2 + 2?", "--effort", "medium")
    medium = EffortPolicy().medium_n
    assert code == 0 and f"effort medium (medium): vote: {medium} samples" in out
    # one home for the mapping: a change to the server's plan changes what solve runs
    monkeypatch.setattr(EffortPolicy, "plan",
                        lambda self, effort, scorers=None, temperature=None:
                        Plan(effort, "vote", 3, 0.5))
    code, out, _ = run(capsys, "solve", "What is 2 + 2?", "--effort", "high")
    assert code == 0 and "effort high (high): vote: 3 samples" in out
    assert lm.calls[-1]["temperature"] == 0.5


@pytest.mark.parametrize("args,message", [
    (["--effort", "max"], "unknown effort 'max'"),
    (["--strategy", "nope"], "unknown strategy 'nope'"),
    (["--effort", "high", "--strategy", "vote"], "drop --strategy"),
    (["--effort", "high", "--n", "4"], "drop --strategy"),
    (["--direct", "--strategy", "vote"], "drop --direct"),
    (["-o", "beam_width"], "key=value"),
])
def test_bad_choices_fail_before_a_model_is_loaded(monkeypatch, capsys, args, message):
    def no_model(spec):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(solve_mod, "load_lm", no_model)
    code, _, err = run(capsys, "solve", "What is 2 + 2?", *args)
    assert code == 2 and message in err and err.count("\n") == 1


def test_a_model_with_its_own_layout_is_asked_in_it():
    lm = own_layout(guesser("4"))
    for direct in (False, True):
        solve_mod.solve_text(lm, "What is 2 + 2?", direct=direct, max_tokens=64)
    assert [c["prompts"] for c in lm.calls] == [[chat_layout("What is 2 + 2?", think)]
                                                for think in (True, False)]
