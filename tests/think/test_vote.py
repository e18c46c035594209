"""Self-consistency, greedy decoding and the checks every Budget gets."""

import pytest

from ponder.errors import ConfigError
from ponder.think import Budget, get_strategy
from ponder.think.greedy import greedy
from ponder.think.vote import elect, vote
from tests.think.fakes import PROBLEM, ListLM, RecordingLM, assert_accounted, step_policy

TEXTS = ["a\n</think>\nAnswer: 3", "b\n</think>\nno answer here", "c\n</think>\nAnswer: 4",
         "d\n</think>\nAnswer: 4", "thinking only, never closed: 9"]


def test_vote_answers_by_majority_and_shows_a_completion_giving_it():
    lm = RecordingLM(ListLM(TEXTS))
    res = vote(PROBLEM, lm, Budget(n=len(TEXTS), temperature=0.7, top_p=0.9), seed=3)
    assert res.answer == "4" and res.completion == TEXTS[2]  # the first one saying 4
    assert res.meta["votes"] == {"3": 1, "4": 2}  # no answer, no vote
    assert [t.answer for t in res.traces] == ["3", None, "4", "4", None]
    [call] = lm.calls
    assert (call["n"], call["temperature"], call["top_p"], call["seed"]) == (5, 0.7, 0.9, 3)
    assert_accounted(res, lm)


def test_elect_breaks_ties_by_the_earliest_answer_and_falls_back_to_the_first():
    res = vote(PROBLEM, ListLM(TEXTS[:3]), Budget(n=3))
    assert (res.answer, res.completion) == ("3", TEXTS[0])
    res = vote(PROBLEM, ListLM([TEXTS[1], TEXTS[4]]), Budget(n=2))
    assert (res.answer, res.completion) == (None, TEXTS[1])
    assert elect(res.traces) == (None, TEXTS[1])


def test_greedy_draws_one_sample_at_temperature_zero_whatever_the_budget():
    lm = RecordingLM(step_policy(0.5))
    res = greedy(PROBLEM, lm, Budget(n=8, temperature=1.0, max_tokens=77), seed=4)
    [call] = lm.calls
    assert (call["n"], call["temperature"], call["max_tokens"]) == (1, 0.0, 77)
    assert len(res.traces) == 1 and res.completion == res.traces[0].completion
    assert_accounted(res, lm)


@pytest.mark.parametrize("name", ["vote", "greedy"])
def test_unknown_options_are_rejected_before_sampling(name):
    lm = RecordingLM(step_policy())
    with pytest.raises(ConfigError, match=rf"{name}: unknown option\(s\) \['beam_width'\]"):
        get_strategy(name)(PROBLEM, lm, Budget(n=2, options={"beam_width": 2}))
    assert lm.calls == []


@pytest.mark.parametrize("kw,msg", [
    ({"n": 0}, "n must be an integer >= 1"), ({"n": "4"}, "n must be an integer"),
    ({"n": 2.5}, "n must be an integer"), ({"max_tokens": None}, "max_tokens must be"),
    ({"temperature": "hot"}, "temperature must be a number"),
    ({"temperature": -1}, "temperature must be >= 0"), ({"top_p": 0}, r"top_p must be in"),
    ({"options": ["weighted"]}, "options must be a dict"),
])
def test_budget_rejects_bad_values_with_a_config_error(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        Budget(**kw)
