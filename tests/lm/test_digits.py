import pytest
import torch

from ponder.errors import ConfigError, ModelError
from ponder.lm.checkpoint import save_checkpoint
from ponder.lm.digits import (
    digit_runs,
    next_run,
    offset_runs,
    sequence_runs,
    trailing_run,
)
from ponder.lm.export import export_checkpoint
from ponder.lm.fused import FusedDecoder
from ponder.lm.hf import load_model
from ponder.lm.model import ModelConfig, Transformer
from ponder.lm.sampler import Sampler, completion_logprobs
from ponder.lm.tokenizer import CharTokenizer

TOK = CharTokenizer()
ZERO = TOK.stoi["0"]


def ids(text: str) -> torch.Tensor:
    return torch.tensor([TOK.encode(text)])


def digit_model(seed: int = 0, size: int = 8) -> Transformer:
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=TOK.vocab_size, n_layer=2, n_head=4, d_model=32, d_ff=64,
                      max_seq_len=96, digit_index=size, digit_first=ZERO)
    model = Transformer(cfg).eval()
    with torch.no_grad():  # sharp distributions, and digit indices that matter
        for p in model.parameters():
            p.mul_(5)
        model.model.embed_digits.weight.mul_(4)
    return model


def test_runs_count_consecutive_digits_and_continue_a_carried_run():
    assert digit_runs(ids("ab123c45"), ZERO).tolist() == [[0, 0, 1, 2, 3, 0, 1, 2]]
    assert sequence_runs(TOK.encode("ab123c45"), ZERO) == [0, 0, 1, 2, 3, 0, 1, 2]
    two = torch.cat([ids("23x4"), ids("y567")])
    assert digit_runs(two, ZERO, torch.tensor([2, 5])).tolist() == [[3, 4, 0, 1],
                                                                    [0, 1, 2, 3]]
    assert trailing_run(TOK.encode("x=1209"), ZERO) == 4
    assert trailing_run(TOK.encode("x=1209 "), ZERO) == 0
    run = torch.zeros(1, dtype=torch.long)  # the decoding recurrence gives the same runs
    seq = ids("7 81x902")[0]
    got = []
    for t in seq:
        run = next_run(run, t[None], ZERO)
        got.append(int(run))
    assert got == digit_runs(seq[None], ZERO)[0].tolist()


def test_training_offsets_shift_each_row_alike_and_leave_other_tokens_at_zero():
    runs = digit_runs(torch.cat([ids("12 345 6"), ids("9 87 x12")]), ZERO)
    out = offset_runs(runs.repeat(50, 1), 16, torch.Generator().manual_seed(0))
    digit = runs.repeat(50, 1) > 0
    assert (out[~digit] == 0).all()
    shift = out - runs.repeat(50, 1)
    offsets = shift.masked_fill(~digit, -1).max(dim=1).values
    assert ((shift == offsets[:, None]) | ~digit).all()  # one offset a row
    assert offsets.min() == 0 and offsets.max() == 8 and len(offsets.unique()) > 4


def test_the_table_is_used_and_index_zero_stays_zero_without_gradient():
    model = digit_model()
    x = ids("12+345=")
    assert torch.equal(model(x), model(x, digits=digit_runs(x, ZERO)))
    assert not torch.allclose(model(x), model(x, digits=digit_runs(x, ZERO) + 1))
    assert not model(x)[0, 0].equal(Transformer(ModelConfig(**{
        **model.cfg.to_dict(), "digit_index": 0})).eval()(x)[0, 0])  # another model
    model.train()
    model(x).sum().backward()
    grad = model.model.embed_digits.weight.grad
    assert grad[0].abs().sum() == 0 and grad[1:4].abs().sum() > 0
    assert model.model.embed_digits.weight[0].abs().sum() == 0
    # indices past the table share its last row
    far = digit_runs(x, ZERO) * 100
    assert torch.equal(model(x, digits=far), model(x, digits=far.clamp(max=7)))
    assert model.num_params(non_embedding=True) == model.num_params() - (
        (TOK.vocab_size + 8) * 32)


@torch.no_grad()
def test_fused_decoder_prefill_and_steps_match_the_forward():
    model = digit_model()
    seq = ids("x 1234+56=1")  # the last steps decode digits
    full = model(seq)[0]
    dec = FusedDecoder(model)
    cache = dec.new_cache(1, seq.shape[1])
    torch.testing.assert_close(dec(seq[:, :8], torch.arange(8)[None], cache, 0)[0], full[7],
                               atol=1e-4, rtol=1e-4)
    runs = digit_runs(seq, ZERO)
    for t in range(8, seq.shape[1]):
        step = dec(seq[:, t:t + 1], torch.tensor([[t]]), cache, t,
                   torch.ones(1, 1, 1, t + 1, dtype=torch.bool), digits=runs[:, t:t + 1])
        torch.testing.assert_close(step[0], full[t], atol=1e-4, rtol=1e-4)


@torch.no_grad()
def naive_greedy(model: Transformer, prompt: list[int], limit: int) -> list[int]:
    seq, out = list(prompt), []
    while len(out) < limit:
        nxt = int(model(torch.tensor([seq]))[0, -1].argmax())
        out.append(nxt)
        seq.append(nxt)
        if nxt == TOK.eos_id:
            break
    return out


def test_engine_decoding_and_continued_prompts_equal_the_naive_loop(monkeypatch):
    """Rows carry their run of digits through decoding, and a prompt that continues a
    stored sequence mid-number gets the run the whole prompt ends with."""
    model = digit_model()
    s = Sampler(model, TOK)
    prompts = [TOK.encode(p, bos=True) for p in ("12+7=", "9", "a 4567", "x")]
    out = s.generate(prompts, max_tokens=24, temperature=0)
    whole = [TOK.encode(r[0].text) + ([TOK.eos_id] if r[0].finish_reason == "eos" else [])
             for r in out]
    assert whole == [naive_greedy(model, p, 24) for p in prompts]
    assert sum(TOK.itos[t].isdigit() for w in whole for t in w) >= 5  # digits decoded
    # and the runs matter: rows that forget them decode something else
    import ponder.lm.layout as layout
    monkeypatch.setattr(layout, "next_run", lambda run, tok, first: torch.zeros_like(run))
    forgot = Sampler(model, TOK).generate(prompts, max_tokens=24, temperature=0)
    assert [r[0].text for r in forgot] != [r[0].text for r in out]
    monkeypatch.undo()
    # prompts that continue a stored sequence in the middle of a number: by prefilling
    # the rest (hot) or by feeding it to decoding steps (fed), the run goes on
    for rest in ("5678 and then 90", "56"):
        s = Sampler(model, TOK)
        head = TOK.encode("the number 1234", bos=True)
        s.generate([head], max_tokens=1, temperature=0)  # stores head
        prompt = head + TOK.encode(rest)
        (got,), = s.generate([prompt], max_tokens=12, temperature=0)
        assert s.engine.prefix_hits == 1 and s.engine.prefix_tokens_saved == len(head)
        assert TOK.encode(got.text) == naive_greedy(model, prompt, 12)[:got.tokens]


def test_shared_prompts_carry_their_run_into_the_completions():
    model = digit_model()
    short, long = TOK.encode("a 12", bos=True), TOK.encode("q: 345", bos=True)
    prompts = [short, long, short, long]
    comps = [TOK.encode(c) for c in ("67+1", "8", "0 9", "12")]
    shared = completion_logprobs(model, prompts, comps, share_prompts=True)[0]
    joint = completion_logprobs(model, prompts, comps, share_prompts=False)[0]
    torch.testing.assert_close(shared, joint, atol=1e-5, rtol=1e-5)
    with torch.no_grad():  # and both equal one forward over the whole row
        full = torch.log_softmax(model(torch.tensor([short + comps[0]]))[0], -1)
    ref = [full[len(short) - 1 + j, t] for j, t in enumerate(comps[0])]
    torch.testing.assert_close(shared[0], torch.stack(ref), atol=1e-5, rtol=1e-5)


def test_configs_refuse_bad_sizes_and_exports_refuse_digit_models(tmp_path):
    with pytest.raises(ValueError, match="digit_index"):
        ModelConfig(digit_index=1)
    with pytest.raises(ValueError, match="digit_first"):
        ModelConfig(vocab_size=20, digit_index=8, digit_first=15)
    from ponder.train.sft import SFTConfig
    with pytest.raises(ConfigError, match="digit-index"):
        SFTConfig(init="x", digit_index=8)
    ckpt = save_checkpoint(tmp_path / "m", digit_model(), TOK)
    with pytest.raises(ModelError, match="digit-index"):
        export_checkpoint(ckpt, tmp_path / "hf")
    with pytest.raises(ModelError, match="digit-index"):  # nor loaded as a transformers model
        load_model(ckpt, None, None, torch.device("cpu"))
    pytest.importorskip("gguf")
    from ponder.lm.gguf_export import export_gguf
    with pytest.raises(ModelError, match="llama.cpp"):
        export_gguf(ckpt, tmp_path / "m.gguf")
    assert not (tmp_path / "m.gguf").exists()
    from ponder.quietstar.backbone import NativeBackbone
    with pytest.raises(ConfigError, match="digit-index"):
        NativeBackbone(digit_model())
