"""Strategies read each completion's answer by the answer rule of the problem's task, and
ask a model with its own prompt layout in it."""

import pytest

from ponder.errors import ConfigError
from ponder.tasks import BUILTIN, get_task
from ponder.tasks.base import Problem
from ponder.think import STRATEGIES as ALL_STRATEGIES
from ponder.think import Budget, Scorers, get_strategy
from ponder.think.base import answer_of, answer_rule_of
from tests.think.fakes import PROBLEM, FakeORM, FakePRM, ListLM, RecordingLM, step_policy
from tests.toy import chat_layout, own_layout


def problem(task: str, **meta) -> Problem:
    return Problem(id="p", task=task, prompt="Solve", answer="42", difficulty=1, meta=meta)


@pytest.mark.parametrize("task,rule", [
    *((name, "answer-line") for name in BUILTIN),
    # adapters are resolved by family, without loading data: neither exists
    ("jsonl:no/such/file.jsonl", "lenient"), ("rg:no_such_data_set", "lenient"),
    ("humaneval", "code"),
    ("serve", "lenient"), ("toy", "lenient"),  # no registered task: every marker counts
])
def test_answer_rule_of_resolves_the_task_family(task, rule):
    assert answer_rule_of(problem(task)) == rule


def test_answer_rule_of_agrees_with_the_built_in_tasks_and_meta_can_state_it():
    for name in BUILTIN:
        p = get_task(name).problems("test", 1, seed=0)[0]
        assert answer_rule_of(p) == get_task(name).answer_rule
    assert answer_rule_of(problem("toy", answer_rule="answer-line")) == "answer-line"
    assert answer_rule_of(problem("arith", answer_rule="lenient")) == "lenient"
    with pytest.raises(ConfigError, match="unknown answer rule 'strict'"):
        answer_rule_of(problem("toy", answer_rule="strict"))


def test_answer_of_reads_by_rule_and_only_after_the_thinking():
    bare = "6 * 7 = 42\n</think>\nso 42"
    assert answer_of(bare, "lenient") == "42"
    assert answer_of(bare, "answer-line") is None
    assert answer_of("x\n</think>\nAnswer: 1,000.", "answer-line") == "1000"
    assert answer_of("Answer: 42, never closed", "lenient") is None
    code = "plan\n</think>\n```python\ndef f(x):\n    return x + 1\n```"
    assert answer_of(code, "code") == "def f(x):\n    return x + 1"  # indentation kept
    assert answer_of("plan\n</think>\n", "code") is None


# three completions end in the right number without an answer line; one answers 13
TEXTS = ["6 * 7 = 42\n</think>\n42", "so 42\n</think>\nthe result is 42",
         "42\n</think>\n**42**", "6 * 7 = 13\n</think>\nAnswer: 13"]
STRATEGIES = {
    "vote": {},
    "best_of_n": {"weighted": True},
    "revise": {"sequential": 1},
    "agents": {"explorers": [{"strategy": "vote"}]},
}


@pytest.mark.parametrize("name", STRATEGIES)
def test_a_stray_number_is_no_answer_for_a_built_in_task(name):
    # best_of_n: the ORM scores the stray 42s highest, yet they hold no answer
    scorers = Scorers(orm=FakeORM())
    budget = Budget(n=len(TEXTS), options=STRATEGIES[name])
    res = get_strategy(name)(problem("arith"), ListLM(TEXTS), budget, scorers, seed=0)
    assert [t.answer for t in res.traces] == [None, None, None, "13"]
    assert res.answer == "13"  # the only answer the task would accept a reading of
    if name == "vote":
        assert res.meta["votes"] == {"13": 1}


@pytest.mark.parametrize("name", STRATEGIES)
def test_an_external_task_still_reads_the_last_number(name):
    scorers = Scorers(orm=FakeORM())
    budget = Budget(n=len(TEXTS), options=STRATEGIES[name])
    res = get_strategy(name)(problem("jsonl:data/gsm8k_test.jsonl"), ListLM(TEXTS), budget,
                             scorers, seed=0)
    assert [t.answer for t in res.traces] == ["42", "42", "42", "13"]
    assert res.answer == "42"
    if name == "vote":
        assert res.meta["votes"] == {"42": 3, "13": 1}


def test_greedy_without_an_answer_line_answers_nothing_for_a_built_in_task():
    greedy = get_strategy("greedy")
    assert greedy(problem("countdown"), ListLM(TEXTS[:1]), Budget()).answer is None
    assert greedy(problem("rg:leg_counting"), ListLM(TEXTS[:1]), Budget()).answer == "42"


# optimal needs a fitted policy, and only runs these
@pytest.mark.parametrize("name", sorted(set(ALL_STRATEGIES) - {"optimal"}))
def test_every_strategy_asks_a_model_with_its_own_layout_in_it(name):
    lm = own_layout(RecordingLM(step_policy(0.5)))
    get_strategy(name)(PROBLEM, lm, Budget(n=4, max_tokens=64, temperature=0.7),
                       Scorers(orm=FakeORM(), prm=FakePRM()), seed=1)
    assert lm.prompts
    if name == "revise":  # the question with the earlier attempts, as one question
        assert all(p.startswith(PROBLEM.prompt) and "<|end|>\n<|assistant|>\n<think>\n" in p
                   for p in lm.prompts)
    else:
        assert all(p.startswith(chat_layout(PROBLEM.prompt)) for p in lm.prompts)
