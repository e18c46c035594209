"""HFLM on three tiny randomly initialised models built here: an exported ponder
checkpoint, a Qwen2 (grouped-query attention, q/k/v biases, untied head) and a Llama with
a tokenizer whose tokens span several characters."""

import pytest
import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from ponder.errors import InvalidInput, ModelError
from ponder.lm.base import TrainableLM
from ponder.lm.checkpoint import save_checkpoint
from ponder.lm.export import export_checkpoint
from ponder.lm.hf import HFLM
from ponder.lm.model import ModelConfig, Transformer
from ponder.lm.tokenizer import CharTokenizer

TOK = CharTokenizer()
PROMPTS = ["Sum 3 4 2\n<think>\n", "a", "What is 12*7? Think step by step."]


def spread(model: torch.nn.Module, std: float = 0.15) -> None:
    """Weights far from the init scale, so distributions are neither flat nor one-hot."""
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.uniform_(0.5, 1.5)
            else:
                p.normal_(0, std)


def hf_config_kwargs(vocab: int) -> dict:
    return dict(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=96,
                bos_token_id=TOK.bos_id, eos_token_id=TOK.eos_id, pad_token_id=TOK.pad_id)


def bigram_tokenizer() -> PreTrainedTokenizerFast:
    """Specials, every character, and every pair of letters a-h as one token."""
    pairs = [a + b for a in "abcdefgh" for b in "abcdefgh"]
    vocab = {s: i for i, s in enumerate([*TOK.itos, *pairs])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[a-h]{2}|[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(TOK.itos[:5])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>",
                                   pad_token="<pad>")


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    ponder = Transformer(ModelConfig(vocab_size=TOK.vocab_size, n_layer=2, n_head=4,
                                     d_model=32, d_ff=64, max_seq_len=96))
    spread(ponder)
    save_checkpoint(root / "ck", ponder, TOK)
    export_checkpoint(root / "ck", root / "ponder")

    torch.manual_seed(0)
    qwen = Qwen2ForCausalLM(Qwen2Config(**hf_config_kwargs(TOK.vocab_size),
                                        tie_word_embeddings=False))
    spread(qwen)
    qwen.save_pretrained(root / "qwen")
    TOK.save(root / "qwen")

    btok = bigram_tokenizer()
    llama = LlamaForCausalLM(LlamaConfig(**hf_config_kwargs(len(btok)), head_dim=8))
    spread(llama, std=0.2)
    llama.save_pretrained(root / "llama")
    btok.save_pretrained(root / "llama")
    return {name: root / name for name in ("ponder", "qwen", "llama")}


@pytest.fixture(scope="module")
def lms(model_dirs):
    return {name: HFLM(path) for name, path in model_dirs.items()}


@torch.no_grad()
def argmax_loop(lm: HFLM, prompt: str, max_tokens: int) -> list[int]:
    """Greedy decoding the slow obvious way: the full forward pass for every token."""
    ids = lm.tokenizer.encode(prompt)
    out = []
    for _ in range(max_tokens):
        t = int(lm.model(torch.tensor([ids + out])).logits[0, -1].argmax())
        out.append(t)
        if t in lm.eos_ids:
            break
    return out


@torch.no_grad()
def teacher_forced(lm: HFLM, prompt: str, token_ids: list[int]) -> list[float]:
    ids = lm.tokenizer.encode(prompt)
    logits = lm.model(torch.tensor([ids + token_ids])).logits[0].float()
    lp = torch.log_softmax(logits[len(ids) - 1:-1], -1)
    return lp.gather(-1, torch.tensor(token_ids)[:, None]).squeeze(-1).tolist()


@pytest.mark.parametrize("name", ["ponder", "qwen", "llama"])
def test_greedy_batch_matches_argmax_loop(lms, name):
    lm = lms[name]
    assert isinstance(lm, TrainableLM)
    outs = lm.generate(PROMPTS, max_tokens=20, temperature=0.0)
    for prompt, [c] in zip(PROMPTS, outs, strict=True):
        expect = argmax_loop(lm, prompt, 20)
        ended = expect[-1] in lm.eos_ids
        body = expect[:-1] if ended else expect
        assert c.text == lm.tokenizer.decode(body)
        assert c.tokens == len(expect)
        assert c.finish_reason == ("eos" if ended else "length")
        assert c.prompt_tokens == len(lm.tokenizer.encode(prompt))


@pytest.mark.parametrize("name", ["ponder", "qwen"])
def test_sampled_logprobs_match_teacher_forcing(lms, name):
    lm = lms[name]
    # log-probs are the model's own, whatever temperature and nucleus shaped the sampling
    outs = lm.generate(PROMPTS, n=2, max_tokens=16, temperature=0.7, top_p=0.9, seed=5)
    texts = [c.text for row in outs for c in row]
    scored = lm.logprobs([p for p in PROMPTS for _ in range(2)], texts)
    for prompt, row in zip(PROMPTS, outs, strict=True):
        for c in row:
            assert len(c.token_logprobs) == c.tokens
            assert c.logprob == pytest.approx(sum(c.token_logprobs))
            ids = lm.tokenizer.encode(c.text, add_special_tokens=False)
            if c.finish_reason == "eos":
                ids.append(TOK.eos_id)
            assert c.token_logprobs == pytest.approx(teacher_forced(lm, prompt, ids), abs=1e-4)
    # logprobs() scores the text alone (no EOS): the same numbers, token for token
    for c, lp in zip([c for row in outs for c in row], scored, strict=True):
        assert lp == pytest.approx(c.token_logprobs[:len(lp)], abs=1e-4)
        assert len(lp) == c.tokens - (c.finish_reason == "eos")


def test_stop_string_cuts_after_it(lms):
    lm = lms["qwen"]
    runs = lm.generate(PROMPTS, max_tokens=20, temperature=0)
    prompt, [free] = max(zip(PROMPTS, runs, strict=True), key=lambda pr: len(pr[1][0].text))
    assert len(free.text) >= 8
    stop = free.text[6:8]
    [[c]] = lm.generate([prompt], max_tokens=20, temperature=0, stop=["@@@", stop])
    end = free.text.find(stop) + len(stop)
    # (a special token such as </think> is one token for several characters)
    assert (c.text, c.finish_reason) == (free.text[:end], "stop")
    assert c.tokens == len(c.token_logprobs) <= end
    assert c.token_logprobs == pytest.approx(free.token_logprobs[:c.tokens])


def test_stop_string_inside_a_multi_character_token(lms):
    lm = lms["llama"]
    for prompt in ["ab", "hello", "gg", "cafe", "x"]:
        [[free]] = lm.generate([prompt], max_tokens=30, temperature=0)
        ids = argmax_loop(lm, prompt, 30)
        pieces = [lm.tokenizer.decode([t]) for t in ids]
        k = next((i for i, p in enumerate(pieces) if len(p) == 2), None)
        if k is not None:
            break
    assert k is not None, "no two-character token generated; change the prompts"
    start = len("".join(pieces[:k]))
    stop = free.text[:start + 1]  # ends in the middle of token k
    [[c]] = lm.generate([prompt], max_tokens=30, temperature=0, stop=[stop])
    assert (c.text, c.finish_reason, c.tokens) == (stop, "stop", k + 1)


def test_eos_ends_a_completion_and_is_counted(lms):
    base = lms["ponder"]
    prompt = max(PROMPTS, key=lambda p: len(set(argmax_loop(base, p, 12))))
    greedy = argmax_loop(base, prompt, 12)
    # declare a token the model greedily writes an end-of-sequence token
    k = next(i for i in range(2, len(greedy)) if greedy[i] not in greedy[:i])
    lm = HFLM(base.model, base.tokenizer)
    lm.eos_ids = {greedy[k]}
    [[c]] = lm.generate([prompt], max_tokens=12, temperature=0)
    assert (c.finish_reason, c.tokens) == ("eos", k + 1)
    assert c.text == base.tokenizer.decode(greedy[:k])
    assert len(c.token_logprobs) == k + 1


def test_n_samples_seeds_and_batch_independence(lms):
    lm = lms["ponder"]
    a = lm.generate(PROMPTS, n=4, max_tokens=12, temperature=1.0, seed=3)
    assert [len(row) for row in a] == [4, 4, 4]
    assert len({c.text for c in a[0]}) > 1  # samples differ
    assert a == lm.generate(PROMPTS, n=4, max_tokens=12, temperature=1.0, seed=3)
    b = lm.generate(PROMPTS, n=4, max_tokens=12, temperature=1.0, seed=4)
    assert [c.text for c in a[0]] != [c.text for c in b[0]]
    # a sample depends on (seed, prompt, index) only, not on the rest of the batch
    alone = lm.generate([PROMPTS[2]], n=4, max_tokens=12, temperature=1.0, seed=3)
    assert [c.text for c in alone[0]] == [c.text for c in a[2]]


def test_top_p_keeps_the_nucleus(lms):
    lm = lms["qwen"]
    greedy = lm.generate(PROMPTS, max_tokens=10, temperature=0)
    tiny_p = lm.generate(PROMPTS, n=3, max_tokens=10, temperature=1.0, top_p=1e-6, seed=0)
    for [g], row in zip(greedy, tiny_p, strict=True):
        assert all(c.text == g.text for c in row)  # only the top token survives


def test_max_tokens_per_prompt_context_and_flops(lms):
    lm = lms["ponder"]
    outs = lm.generate(PROMPTS, n=2, max_tokens=[3, 0, 7], temperature=1.0, seed=0)
    for row, limit in zip(outs, [3, 0, 7], strict=True):
        for c in row:
            assert c.tokens <= limit and (c.tokens == limit or c.finish_reason != "length")
            assert c.flops == pytest.approx(lm.flops_per_token * (c.prompt_tokens / 2 + c.tokens))
    assert outs[1][0].text == "" and outs[1][0].finish_reason == "length"
    [[none]] = lm.generate(["a"], max_tokens=0)  # nothing to sample: no forward pass at all
    assert (none.text, none.tokens, none.finish_reason) == ("", 0, "length")
    assert lm.flops_per_token == 2 * sum(p.numel() for p in lm.model.parameters())
    assert lm.max_context == 96 and lm.count_tokens("<think>ab") == 3
    long = "x" * 90  # 6 tokens of room left in the context
    [[c]] = lm.generate([long], max_tokens=50, temperature=1.0, seed=0)
    assert c.tokens <= 6


def test_errors(lms, tmp_path):
    lm = lms["ponder"]
    with pytest.raises(ModelError, match="does not exist"):
        HFLM(tmp_path / "missing")
    with pytest.raises(ModelError, match="no config.json"):
        HFLM(tmp_path)
    with pytest.raises(InvalidInput, match="context"):
        lm.generate(["x" * 200], max_tokens=5)
    with pytest.raises(InvalidInput, match="2 limits for 3 prompts"):
        lm.generate(PROMPTS, max_tokens=[1, 2])
    with pytest.raises(InvalidInput, match="list of strings"):
        lm.generate("a prompt")
    # ponder's tokenizer starts every prompt with <bos>, so even "" gives context
    [[c]] = lm.generate([""], max_tokens=2, temperature=0)
    assert c.prompt_tokens == 1
    with pytest.raises(InvalidInput, match="top_p"):
        lm.generate(["a"], top_p=0)


@pytest.mark.parametrize("name", ["ponder", "qwen", "llama"])
def test_shared_prompts_give_the_unshared_logprobs_and_gradients(lms, name):
    """Rows repeating a prompt run it once (a GRPO group's samples): the log-probs and the
    gradients they backpropagate equal those of one pass over every full row."""
    from ponder.lm.hf import completion_logprobs

    lm = lms[name]
    short, long = lm.prompt_ids("a"), lm.prompt_ids("Sum 3 4 2")
    prompts = [short, short, long, long, long, short]  # unequal lengths, out of order
    vocab = lm.model.config.vocab_size
    gen = torch.Generator().manual_seed(1)
    completions = [torch.randint(5, vocab, (n,), generator=gen).tolist()
                   for n in (4, 7, 1, 6, 3, 5)]
    weights = torch.randn(len(prompts), 7, generator=gen)
    results = []
    for share in (False, True):
        lm.model.zero_grad(set_to_none=True)
        lp, mask = completion_logprobs(lm.model, prompts, completions, lm.pad_id,
                                       share_prompts=share)
        (lp * weights).sum().backward()
        grads = [p.grad.clone() for p in lm.model.parameters() if p.grad is not None]
        results.append((lp.detach(), mask, grads))
    lm.model.zero_grad(set_to_none=True)
    (lp0, mask0, g0), (lp1, mask1, g1) = results
    assert torch.equal(mask0, mask1) and mask0.sum() == 26
    assert torch.allclose(lp0, lp1, atol=1e-5)
    assert (lp0[mask0.bool()] < 0).all()  # real log-probs, not padding
    assert len(g0) == len(g1) > 0
    for a, b in zip(g0, g1, strict=True):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)
