import random

import pytest

from ponder.errors import ConfigError
from ponder.lm.function import FunctionLM
from ponder.lm.template import format_prompt
from ponder.think import Budget, Scorers
from ponder.think.revise import attempt_block, revise, revision_prompt
from tests.think.fakes import (
    PROBLEM,
    RIGHT,
    WRONG,
    FakeORM,
    RecordingLM,
    assert_accounted,
)


def reviser() -> RecordingLM:
    """Gets the answer right from its third attempt on, i.e. after seeing two."""

    def fn(prompt: str, rng: random.Random, temperature: float) -> str:
        seen = prompt.count("Previous attempt:")
        answer = RIGHT if seen >= 2 else WRONG
        return f"attempt {seen} draw {rng.random():.6f}\n</think>\nAnswer: {answer}"

    return RecordingLM(FunctionLM(fn))


def test_revision_prompt_format():
    first = "a\nb\n</think>\nAnswer: 13"
    second = "c\n</think>\nAnswer: 12"
    assert revision_prompt("Q?", [first, second]) == (
        "Q?\nPrevious attempt:\na\nb\nAnswer: 13\nPrevious attempt:\nc\nAnswer: 12\n<think>\n")
    assert revision_prompt("Q?", []) == format_prompt("Q?")
    assert attempt_block("cut off mid-thought") == "Previous attempt:\ncut off mid-thought"


def test_prompts_contain_the_earlier_attempts():
    lm = reviser()
    res = revise(PROBLEM, lm, Budget(n=3, options={"sequential": 3}))
    texts = [t.completion for t in res.traces]
    assert lm.prompts == [revision_prompt(PROBLEM.prompt, texts[:k]) for k in range(3)]
    assert attempt_block(texts[0]) in lm.prompts[2] and attempt_block(texts[1]) in lm.prompts[2]
    # with context=1 only the latest attempt is shown
    lm = reviser()
    res = revise(PROBLEM, lm, Budget(n=3, options={"sequential": 3, "context": 1}))
    texts = [t.completion for t in res.traces]
    assert lm.prompts[2] == revision_prompt(PROBLEM.prompt, [texts[1]])
    assert "attempt 0" not in lm.prompts[2] and "attempt 1" in lm.prompts[2]


def test_sequential_revisions_beat_parallel_samples_with_a_verifier():
    orm = Scorers(orm=FakeORM())
    seq = revise(PROBLEM, reviser(), Budget(n=3, options={"sequential": 3, "select": "best"}),
                 orm)
    par = revise(PROBLEM, reviser(), Budget(n=3, options={"sequential": 1, "select": "best"}),
                 orm)
    assert seq.answer == RIGHT and par.answer == WRONG
    assert [t.answer for t in seq.traces] == [WRONG, WRONG, RIGHT]
    # majority over all attempts still picks the two wrong first attempts
    assert revise(PROBLEM, reviser(), Budget(n=3, options={"sequential": 3})).answer == WRONG


def test_chains_times_length_is_the_budget():
    lm = reviser()
    res = revise(PROBLEM, lm, Budget(n=6, options={"sequential": 3}), seed=4)
    assert len(res.traces) == 6 == len(lm.completions) and res.meta["chains"] == 2
    assert sorted((t.meta["chain"], t.meta["turn"]) for t in res.traces) == [
        (c, k) for c in range(2) for k in range(3)]
    first = [t.completion for t in res.traces if t.meta["turn"] == 0]
    assert first[0] != first[1]  # parallel chains from one prompt get distinct samples


def test_compute_accounting():
    lm, orm = reviser(), FakeORM()
    res = revise(PROBLEM, lm, Budget(n=8, options={"sequential": 4, "select": "weighted",
                                                   "scorer": "orm"}), Scorers(orm=orm))
    assert orm.read > 0
    assert_accounted(res, lm, orm)


@pytest.mark.parametrize("options,msg", [
    ({"sequential": 4}, "dividing"), ({"sequential": 0}, "dividing"),
    ({"context": 0}, "context"), ({"select": "best"}, "needs a scorer"),
])
def test_config_errors(options, msg):
    with pytest.raises(ConfigError, match=msg):
        revise(PROBLEM, reviser(), Budget(n=6, options=options))
