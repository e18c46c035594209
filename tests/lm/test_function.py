"""FunctionLM: the test double every strategy test stands on, so its protocol must hold."""

import random

from ponder.lm.function import FunctionLM
from ponder.lm.sampling import row_seed


def write(prompt, rng, temperature):
    return f"{rng.randrange(10**6)}\nb\nc"


def test_stop_strings_and_token_limits_end_text_as_a_real_backend_does():
    lm = FunctionLM(write)
    [[full]] = lm.generate(["p"], seed=1)
    assert full.finish_reason == "eos" and full.text.endswith("\nb\nc")
    [[c]] = lm.generate(["p"], stop=["c", "\n"], seed=1)  # the earliest-ending one wins
    assert (c.text, c.finish_reason) == (full.text.split("\n")[0] + "\n", "stop")
    [[c]] = lm.generate(["p"], stop=[""], seed=1)  # an empty stop string stops nothing
    assert (c.text, c.finish_reason) == (full.text, "eos")
    [[c]] = lm.generate(["p"], max_tokens=2, seed=1)
    assert (c.text, c.tokens, c.finish_reason) == (full.text[:2], 2, "length")


def test_samples_are_reproducible_and_pay_their_share_of_the_prompt():
    lm = FunctionLM(write, flops_per_token=2.0)
    a = lm.generate(["p", "q"], n=3, seed=5)
    assert a == lm.generate(["p", "q"], n=3, seed=5)
    assert len({c.text for c in a[0]}) == 3  # distinct samples of one prompt
    assert [c.text for c in a[0]] != [c.text for c in lm.generate(["p"], n=3, seed=6)[0]]
    [row] = lm.generate(["pp"], n=2, seed=0)
    assert [c.flops for c in row] == [2.0 * (2 / 2 + c.tokens) for c in row]
    assert all(c.prompt_tokens == 2 for c in row) and lm.calls == 4


def test_each_sample_draws_from_the_shared_per_sample_seed():
    lm = FunctionLM(lambda prompt, rng, t: str(rng.random()))
    [row] = lm.generate(["p"], n=2, seed=3)
    assert [c.text for c in row] == [str(random.Random(row_seed(3, "p", j, bits=64)).random())
                                     for j in range(2)]
