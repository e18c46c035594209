import pytest

from ponder.lm.template import THINK_CLOSE
from ponder.think import Budget, Compute
from ponder.think.steps import Partial, extend, finish, sample_each
from tests.think.fakes import PROMPT_OF_PROBLEM, RecordingLM, step_policy


def test_extend_adds_one_line_and_finishes_a_closing_step():
    lm, c = RecordingLM(step_policy(1.0, steps=1)), Compute()
    [[p]] = extend(lm, PROMPT_OF_PROBLEM, [Partial()], 1, Budget(), c, seed=0)
    assert p.text == "step 1 ok\n" and not p.done and p.tokens == 10
    [[q]] = extend(lm, PROMPT_OF_PROBLEM, [p], 1, Budget(), c, seed=0)
    assert q.text == f"step 1 ok\n{THINK_CLOSE}\nAnswer: 42" and q.done
    assert q.tokens == len(q.text)
    assert [call["stop"] for call in lm.calls] == [["\n"], ["\n"], None]  # answer: no stop
    assert c.generated_tokens == q.tokens and c.samples == 3
    [[r]] = extend(lm, PROMPT_OF_PROBLEM, [p], 1, Budget(), Compute(), seed=0, answer=False)
    assert r.done and r.text == f"step 1 ok\n{THINK_CLOSE}\n"


def test_equal_prefixes_get_distinct_samples_and_greedy_copies_share_one():
    lm, c = RecordingLM(step_policy(0.5, steps=40)), Compute()
    rows = extend(lm, PROMPT_OF_PROBLEM, [Partial(), Partial()], [3, 2], Budget(), c, seed=1)
    assert [len(r) for r in rows] == [3, 2]
    assert lm.calls[-1]["n"] == 5 and len(lm.calls[-1]["prompts"]) == 1
    texts = [p.text for row in rows for p in row]
    assert len(set(texts)) == 2  # "ok" and "bad" both drawn: not five copies of one sample
    lm = RecordingLM(step_policy(0.5))
    rows = extend(lm, PROMPT_OF_PROBLEM, [Partial()] * 3, 1, Budget(), Compute(), seed=1,
                  temperature=0.0)
    assert len(lm.completions) == 1 and len({row[0].text for row in rows}) == 1


def test_out_of_tokens_is_done_and_finish_completes():
    lm = RecordingLM(step_policy(1.0))
    [[p]] = extend(lm, PROMPT_OF_PROBLEM, [Partial()], 1, Budget(max_tokens=5), Compute(), 0)
    assert p.done and p.text == "step " and p.tokens == 5
    [q] = finish(lm, PROMPT_OF_PROBLEM, [Partial("step 1 ok\n", 10)], Budget(), Compute(), 0, 0.0)
    assert q.done and q.text.endswith("Answer: 42")
    assert finish(lm, PROMPT_OF_PROBLEM, [p], Budget(), Compute(), 0, 0.0) == [p]


def test_sample_each_one_per_prompt_in_order():
    lm, c = RecordingLM(step_policy(0.5)), Compute()
    outs = sample_each(lm, ["a\n<think>\n", "b\n<think>\n", "a\n<think>\n"], Budget(), c, 0,
                       max_tokens=4)
    assert len(outs) == 3 and all(o.tokens == 4 for o in outs)
    assert c.samples == 3 and sorted(call["n"] for call in lm.calls) == [1, 2]
    with pytest.raises(AssertionError):
        sample_each(lm, ["a"], Budget(), c, 0, max_tokens=0)
