import random

import pytest

from ponder.errors import ConfigError
from ponder.lm.function import FunctionLM
from ponder.lm.template import THINK_CLOSE, split_thinking
from ponder.think import Budget, get_strategy, sized_budget
from ponder.think.budget import budget_forcing, force_end, with_wait
from tests.think.fakes import PROBLEM, RecordingLM, assert_accounted

RAMBLE = "".join(f"hmm {i:04d}\n" for i in range(100))  # 900 tokens, never closes


def thinker(close_after: int | None = None) -> RecordingLM:
    """Rambles forever (``close_after`` None) or closes after that many lines. After a
    "Wait" it writes one more line and closes again. Its answer is the number of Waits."""

    def fn(prompt: str, rng: random.Random, temperature: float) -> str:
        waits = prompt.count("Wait")
        if prompt.endswith("Answer:"):
            return f" {waits}"
        if prompt.endswith(THINK_CLOSE):
            return f"\nAnswer: {waits}"
        if prompt.endswith("Wait"):
            return f", checking again\n{THINK_CLOSE}\nAnswer: {waits}"
        if close_after is None:
            return RAMBLE
        return "".join(f"hmm {i}\n" for i in range(close_after)) + f"{THINK_CLOSE}\nAnswer: 0"

    return RecordingLM(FunctionLM(fn))


@pytest.mark.parametrize("cap", [1, 9, 50, 333])
def test_cap_cuts_thinking_at_exactly_the_cap_and_forces_the_answer(cap):
    lm = thinker()
    res = budget_forcing(PROBLEM, lm, Budget(options={"think_tokens": cap}))
    [t] = res.traces
    assert t.meta["thinking_tokens"] == cap and t.meta["forced"]
    assert res.completion == force_end(RAMBLE[:cap]) + " 0"
    assert res.completion.endswith("\n</think>\nAnswer: 0") and res.answer == "0"
    assert lm.calls[0]["max_tokens"] == [cap]
    assert res.compute.generated_tokens == cap + len(" 0")
    assert_accounted(res, lm)


def test_model_that_closes_before_the_cap_is_left_alone():
    res = budget_forcing(PROBLEM, thinker(close_after=2), Budget(options={"think_tokens": 100}))
    assert res.completion == f"hmm 0\nhmm 1\n{THINK_CLOSE}\nAnswer: 0"
    assert not res.traces[0].meta["forced"] and res.traces[0].meta["thinking_tokens"] == 12


@pytest.mark.parametrize("k", [0, 1, 3])
def test_extend_appends_wait_k_times(k):
    lm = thinker(close_after=1)
    res = budget_forcing(PROBLEM, lm, Budget(options={"extend": k}))
    thinking, visible = split_thinking(res.completion)
    assert thinking.count("Wait") == k == res.traces[0].meta["waits"]
    assert res.answer == str(k) and visible == f"Answer: {k}"
    assert thinking == "hmm 0" + "\nWait, checking again" * k
    assert THINK_CLOSE not in lm.prompts[-2]  # the closing marker was stripped each time
    assert_accounted(res, lm)


def test_extension_never_goes_past_the_cap():
    for cap in range(6, 60):
        res = budget_forcing(PROBLEM, thinker(close_after=1),
                             Budget(options={"think_tokens": cap, "extend": 5}))
        t = res.traces[0]
        assert t.meta["thinking_tokens"] <= cap
        assert len(res.completion.split(f"\n{THINK_CLOSE}")[0]) <= cap
    # the closing marker counts: "hmm 0\n</think>" is 14 tokens, so at 13 thinking is forced
    res = budget_forcing(PROBLEM, thinker(close_after=1),
                         Budget(options={"think_tokens": 13, "extend": 5}))
    t = res.traces[0]
    assert t.meta["waits"] == 0 and t.meta["forced"] and t.meta["thinking_tokens"] == 13


def test_no_wait_when_it_would_not_fit():
    lm = thinker(close_after=1)
    lm.count_tokens = lambda text: len(text) + 10 * text.count("Wait")  # a costly "Wait"
    # "hmm 0\n</think>" (14) fits in 20, "hmm 0\nWait" (20) leaves no room: close instead
    res = budget_forcing(PROBLEM, lm, Budget(options={"think_tokens": 20, "extend": 3}))
    t = res.traces[0]
    assert t.meta["waits"] == 0 and not t.meta["forced"] and res.answer == "0"


def test_parallel_chains_vote():
    lm = thinker()
    res = budget_forcing(PROBLEM, lm, Budget(n=3, options={"think_tokens": 20}))
    assert len(res.traces) == 3 and res.answer == "0"
    assert lm.calls[0]["n"] == 3  # the chains start from one prompt: one request of n=3
    assert_accounted(res, lm)


def test_helpers_and_registry():
    assert with_wait("") == "Wait"
    assert force_end("") == "\n</think>\nAnswer:"
    res = get_strategy("budget")(PROBLEM, thinker(), Budget(max_tokens=64))
    assert res.traces[0].meta["thinking_tokens"] == 64 - 32  # default: max_tokens - answer


@pytest.mark.parametrize("options,msg", [
    ({"think_tokens": 0}, "think_tokens"), ({"extend": -1}, "extend"),
    ({"answer_tokens": 300}, "no thinking tokens"), ({"cap": 3}, "unknown option"),
])
def test_config_errors(options, msg):
    with pytest.raises(ConfigError, match=msg):
        budget_forcing(PROBLEM, thinker(), Budget(max_tokens=256, options=options))


def test_a_compute_budget_is_the_thinking_cap_not_the_number_of_chains():
    b = sized_budget("budget", 40, max_tokens=64, temperature=0.0,
                     options={"n": 3, "extend": 1})
    assert (b.n, b.options) == (3, {"think_tokens": 40, "extend": 1})
    assert sized_budget("budget", 40, max_tokens=64, temperature=0.0).n == 1
    res = budget_forcing(PROBLEM, thinker(), sized_budget("budget", 25, max_tokens=64,
                                                          temperature=0.0))
    assert [t.meta["thinking_tokens"] for t in res.traces] == [25]
    # a sampling strategy gets that many samples, its options untouched
    v = sized_budget("vote", 40, max_tokens=64, temperature=0.8, options={"x": 1})
    assert (v.n, v.options, v.max_tokens, v.temperature) == (40, {"x": 1}, 64, 0.8)
