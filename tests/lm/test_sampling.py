"""The sampling rules every backend shares: argument checks, stop cut, per-sample seeds,
nucleus and seeded draws."""

import doctest
import subprocess
import sys

import pytest
import torch

import ponder.lm.sampling as sampling
from ponder.errors import InvalidInput
from ponder.lm.sampling import check_generate_args, choose_tokens, nucleus_drop, row_seed, stop_cut


def test_doctests():
    assert doctest.testmod(sampling).failed == 0


def test_check_generate_args_gives_one_limit_per_prompt_and_says_what_is_wrong():
    assert check_generate_args(["a", "b"], 1, 5, 0.0, 1.0) == [5, 5]
    assert check_generate_args([[1, 2], [3]], 2, [4, 0], 1.0, 0.5) == [4, 0]  # token ids too
    for args, message in [(("ab", 1, 5, 1.0, 1.0), "single string"),
                          ((["a"], 0, 5, 1.0, 1.0), "n must be"),
                          ((["a"], 1, 5, -0.1, 1.0), "temperature"),
                          ((["a"], 1, 5, 1.0, 0.0), "top_p"),
                          ((["a"], 1, 5, 1.0, 1.5), "top_p"),
                          ((["a"], 1, [5, 6], 1.0, 1.0), "2 limits for 1 prompts"),
                          ((["a", "b"], 1, [5, -1], 1.0, 1.0), ">= 0")]:
        with pytest.raises(InvalidInput, match=message):
            check_generate_args(*args)


def test_stop_cut_ends_after_the_earliest_ending_stop_string():
    assert stop_cut("x=1\ny=2\n", ["\n"]) == 4
    assert stop_cut("abcdef", ["cdef", "bc"]) == 3  # "bc" ends first, though "cdef" starts later
    assert stop_cut("abc", ["", "z"]) == -1
    assert stop_cut("abc", []) == -1


def test_row_seed_depends_on_seed_prompt_and_index_only_and_is_pinned():
    # pinned: changing the hash would change every backend's samples for a given seed
    assert row_seed(7, "Q: 2+2?", 3) == 4945914534966803153
    assert row_seed(None, "p", 0, bits=64) == 14441130430396749741
    assert row_seed(None, "p", 0) == 14441130430396749741 >> 1
    seeds = {row_seed(s, p, j) for s in (0, 1) for p in ("a", "b") for j in (0, 1)}
    assert len(seeds) == 8 and max(seeds) < 2**63  # fits a torch.Generator seed
    torch.Generator().manual_seed(max(seeds))


def test_nucleus_drop_keeps_the_most_likely_tokens_up_to_top_p_in_vocab_order():
    probs = torch.tensor([[0.1, 0.5, 0.3, 0.1],
                          [0.7, 0.1, 0.1, 0.1]])
    assert nucleus_drop(probs, 0.7).tolist() == [[True, False, False, True],
                                                 [False, True, True, True]]
    # the mass before the second token (0.5) already reaches 0.5: only the top one stays
    assert nucleus_drop(probs[:1], 0.5).tolist() == [[True, False, True, True]]
    assert nucleus_drop(probs, 1e-9).sum(-1).tolist() == [3, 3]  # the top token is kept
    assert not nucleus_drop(probs, 1.0).any()


def test_choose_tokens_is_greedy_at_temperature_zero_or_a_tiny_nucleus():
    logits = torch.randn(5, 11, generator=torch.Generator().manual_seed(0))
    gens = [torch.Generator().manual_seed(i) for i in range(5)]
    assert choose_tokens(logits, 0.0, 1.0, gens).tolist() == logits.argmax(-1).tolist()
    assert choose_tokens(logits, 1.0, 1e-6, gens).tolist() == logits.argmax(-1).tolist()


def test_choose_tokens_draws_within_the_nucleus_from_each_rows_own_stream():
    logits = torch.log(torch.tensor([0.05, 0.5, 0.3, 0.15]))
    n = 400
    draws = choose_tokens(logits.expand(n, 4), 1.0, 0.7,
                          [torch.Generator().manual_seed(i) for i in range(n)])
    assert set(draws.tolist()) == {1, 2}  # 0.5 + 0.3 covers 0.7; the rest is cut
    assert 0.5 < (draws == 1).float().mean() < 0.75  # renormalised: 0.5 / 0.8 = 0.625
    # a row's token depends on its generator, not on the rows beside it
    other = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
    alone = choose_tokens(logits[None], 1.0, 1.0, [torch.Generator().manual_seed(9)])
    batch = choose_tokens(torch.cat([other, logits[None]]), 1.0, 1.0,
                          [torch.Generator().manual_seed(s) for s in (1, 2, 3, 9)])
    assert batch[-1] == alone[0]


def test_backends_take_the_shared_rules_from_sampling_not_from_each_other():
    # the native, HTTP and vLLM backends must not pull in the transformers backend
    code = ("import sys, ponder.lm.native, ponder.lm.http, ponder.lm.vllm, ponder.lm.function;"
            "print('ponder.lm.hf' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
