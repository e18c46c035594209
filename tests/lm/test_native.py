import pytest
import torch

from ponder.errors import InvalidInput, ModelError
from ponder.lm.base import LM, TrainableLM
from ponder.lm.checkpoint import save_checkpoint
from ponder.lm.model import ModelConfig, Transformer
from ponder.lm.native import NativeLM
from ponder.lm.tokenizer import CharTokenizer

TOK = CharTokenizer()


def tiny_lm(max_seq_len: int = 64) -> NativeLM:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=TOK.vocab_size, n_layer=2, n_head=4, d_model=32, d_ff=64,
                      max_seq_len=max_seq_len)
    model = Transformer(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(5)
    return NativeLM(model, TOK, name="tiny")


def test_implements_the_protocol():
    lm = tiny_lm()
    assert isinstance(lm, LM) and isinstance(lm, TrainableLM)
    assert lm.max_context == 64 and lm.flops_per_token == lm.model.flops_per_token()
    assert lm.count_tokens("a<think>b") == 3


def test_generate_encodes_with_bos_and_matches_teacher_forcing():
    lm = tiny_lm()
    out = lm.generate(["Sum 3 4", "x"], n=2, max_tokens=[6, 9], temperature=1.0, seed=3)
    comps = [c for r in out for c in r]
    assert [c.prompt_tokens for c in comps] == [8, 8, 2, 2]  # BOS + characters
    got = lm.logprobs(["Sum 3 4"] * 2 + ["x"] * 2, [c.text for c in comps])
    for c, lp in zip(comps, got, strict=True):
        assert len(lp) == c.tokens - (c.finish_reason == "eos")  # EOS is not in the text
        assert lp == pytest.approx(c.token_logprobs[: len(lp)], abs=1e-4)


def test_samples_depend_on_seed_prompt_and_index_only():
    lm = tiny_lm()
    a = lm.generate(["abc"], n=3, max_tokens=8, seed=7)[0]
    b = lm.generate(["other prompt", "abc"], n=3, max_tokens=8, seed=7)[1]
    c = lm.generate(["abc"], n=3, max_tokens=8, seed=8)[0]
    assert [x.text for x in a] == [x.text for x in b]
    assert [x.text for x in a] != [x.text for x in c]
    assert len({x.text for x in a}) > 1


def test_budget_is_clipped_to_the_context_left():
    lm = tiny_lm(max_seq_len=32)
    prompt = "q" * 25  # 26 tokens with BOS: room for 6
    (c,), = lm.generate([prompt], max_tokens=100, temperature=0)
    assert (c.tokens, c.finish_reason) == (6, "length")


def test_bad_input_raises_invalid_input():
    lm = tiny_lm(max_seq_len=32)
    with pytest.raises(InvalidInput, match="vocabulary"):
        lm.generate(["caf\u00e9"])
    with pytest.raises(InvalidInput, match="context"):
        lm.generate(["q" * 31])  # 32 tokens with BOS: no room left
    with pytest.raises(InvalidInput, match="single string"):
        lm.generate("abc")
    with pytest.raises(InvalidInput, match="stop"):
        lm.generate(["abc"], stop="\n")
    with pytest.raises(InvalidInput, match="n must be"):
        lm.generate(["abc"], n=0)
    with pytest.raises(InvalidInput, match="top_p"):
        lm.generate(["abc"], top_p=1.5)
    with pytest.raises(InvalidInput, match="limits"):
        lm.generate(["abc", "d"], max_tokens=[3])
    with pytest.raises(InvalidInput, match="completion 0"):
        lm.logprobs(["abc"], ["\u00e9"])
    with pytest.raises(InvalidInput, match="context"):
        lm.logprobs(["abc"], ["x" * 40])
    with pytest.raises(InvalidInput, match="2 prompts but 1"):
        lm.logprobs(["a", "b"], ["c"])


def test_from_checkpoint_round_trip(tmp_path):
    lm = tiny_lm()
    save_checkpoint(tmp_path / "ckpt", lm.model, TOK)
    loaded = NativeLM.from_checkpoint(tmp_path / "ckpt")
    assert loaded.name == f"native:{tmp_path / 'ckpt'}"
    want = lm.generate(["Sum 1 2"], max_tokens=10, temperature=0)[0][0]
    got = loaded.generate(["Sum 1 2"], max_tokens=10, temperature=0)[0][0]
    assert got.text == want.text and got.token_logprobs == pytest.approx(want.token_logprobs)
    assert loaded.trace_styles == {}
    with pytest.raises(ModelError):
        NativeLM.from_checkpoint(tmp_path / "missing")
    save_checkpoint(tmp_path / "styled", lm.model, TOK,
                    recipe={"sft": {"styles": {"arith": "consumed"}}})
    assert NativeLM.from_checkpoint(tmp_path / "styled").trace_styles == {"arith": "consumed"}
