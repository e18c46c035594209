import math

import pytest
import torch

from ponder.errors import InvalidInput
from ponder.lm.fused import FusedDecoder
from ponder.lm.model import ModelConfig, Transformer
from ponder.lm.sampler import Sampler, completion_logprobs, sequence_logprobs
from ponder.lm.tokenizer import CharTokenizer

TOK = CharTokenizer()


def tiny(seed: int = 0, **kw) -> Transformer:
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=TOK.vocab_size, n_layer=2, n_head=4, d_model=32, d_ff=64,
                      max_seq_len=64, **kw)
    model = Transformer(cfg).eval()
    with torch.no_grad():  # sharper distributions than the init: fewer near-ties
        for p in model.parameters():
            p.mul_(5)
    return model


def enc(text: str) -> list[int]:
    return TOK.encode(text, bos=True)


@torch.no_grad()
def naive_greedy(model: Transformer, prompt: list[int], limit: int, eos: int) -> list[int]:
    """Argmax decoding with no cache: the whole sequence through model.forward each step."""
    ids, out = list(prompt), []
    while len(out) < limit:
        nxt = int(model(torch.tensor([ids]))[0, -1].argmax())
        out.append(nxt)
        ids.append(nxt)
        if nxt == eos:
            break
    return out


def ids_of(c, eos: int = TOK.eos_id) -> list[int]:
    return TOK.encode(c.text) + ([eos] if c.finish_reason == "eos" else [])


@torch.no_grad()
def test_fused_decoder_matches_model_forward_with_padding():
    """A left-padded prefill, then one decoding step: logits equal the plain forward's."""
    model = tiny()
    dec = FusedDecoder(model)
    seqs = [torch.randint(5, TOK.vocab_size, (11,)) for _ in range(2)]
    full = [model(s[None])[0] for s in seqs]  # (11, V) each
    P, pad = 10, torch.tensor([0, 3])  # row 0: 10 prompt tokens; row 1: 7, after 3 pads
    ids = torch.stack([seqs[0][:10], torch.cat([torch.zeros(3, dtype=torch.long), seqs[1][:7]])])
    slots = torch.arange(P)
    positions = (slots - pad[:, None]).clamp(min=0)
    real = slots[None] >= pad[:, None]  # (2, P)
    mask = (slots[None, :] <= slots[:, None]) & (real[:, None] | torch.eye(P, dtype=torch.bool))
    cache = dec.new_cache(2, P + 1)
    logits = dec(ids, positions, cache, 0, mask[:, None])
    torch.testing.assert_close(logits, torch.stack([full[0][9], full[1][6]]), atol=1e-4,
                               rtol=1e-4)
    step_mask = torch.cat([real, real.new_ones(2, 1)], 1)[:, None, None]  # (2, 1, 1, P+1)
    step = dec(torch.stack([seqs[0][10:], seqs[1][7:8]]), torch.tensor([[10], [7]]), cache, P,
               step_mask)
    torch.testing.assert_close(step, torch.stack([full[0][10], full[1][7]]), atol=1e-4,
                               rtol=1e-4)


@torch.no_grad()
def test_bfloat16_cache_stays_close_to_forward_and_mostly_greedy_equal():
    model = tiny()
    seq = torch.randint(5, TOK.vocab_size, (1, 40), generator=torch.Generator().manual_seed(0))
    full = model(seq)[0]  # (40, V)
    dec = FusedDecoder(model, torch.bfloat16)
    cache = dec.new_cache(1, 40)
    assert cache[0].dtype == torch.bfloat16
    logits = [dec(seq[:, :30], torch.arange(30)[None], cache, 0)]
    for t in range(30, 39):  # decoding steps read the rounded keys and values
        logits.append(dec(seq[:, t:t + 1], torch.tensor([[t]]), cache, t,
                          torch.ones(1, 1, 1, t + 1, dtype=torch.bool)))
    got = torch.cat(logits)
    err = (got - full[29:39]).abs().max().item()
    assert 0 < err < 0.05 * full.abs().max().item()  # rounded, but only slightly
    # the sampler with a bfloat16 cache: the same greedy text as float32 on most prompts
    # (this random model has many near-ties; the bundled one gave 64/64), and the cache
    # bound admits twice the rows
    prompts = [enc(x) for x in ("12+7=", "a", "the longest prompt here", "7", "zz")]
    s32, s16 = Sampler(model, TOK), Sampler(model, TOK, kv_dtype="bfloat16")
    a = s32.generate(prompts, max_tokens=20, temperature=0)
    b = s16.generate(prompts, max_tokens=20, temperature=0)
    assert sum(x[0].text == y[0].text for x, y in zip(a, b, strict=True)) >= 3
    assert s16.engine._capacity(64) == 2 * s32.engine._capacity(64) or \
        s32.engine._capacity(64) == s32.max_batch
    with pytest.raises(InvalidInput, match="kv_dtype"):
        Sampler(model, TOK, kv_dtype="float16")


@pytest.mark.parametrize("scale,kv_heads", [(1.0, 0), (1.25, 0), (0.0, 0), (1.0, 2),
                                            (1.0, 1)])
def test_greedy_equals_naive_loop_for_mixed_lengths_and_n(scale, kv_heads):
    # the decoder's rotary table follows the scale (0: no positions); with fewer
    # key/value heads than query heads the cache holds only those
    model = tiny(position_scale=scale, n_kv_head=kv_heads)
    prompts = [enc("12+7="), enc("a"), enc("the longest prompt here"), enc("7")]
    limits = [9, 20, 5, 14]  # rows finish at different steps: the batch is compacted
    out = Sampler(model, TOK).generate(prompts, n=2, max_tokens=limits, temperature=0)
    assert FusedDecoder(model).new_cache(1, 4)[0].shape[2] == model.cfg.kv_heads
    for p, lim, row in zip(prompts, limits, out, strict=True):
        ref = naive_greedy(model, p, lim, TOK.eos_id)  # "7" ends with EOS after 10 tokens
        assert [ids_of(c) for c in row] == [ref, ref]
        for c in row:
            assert c.prompt_tokens == len(p)
            assert c.tokens == len(ref) == len(c.token_logprobs)
            assert c.finish_reason == ("eos" if ref[-1] == TOK.eos_id else "length")
            assert c.logprob == pytest.approx(sum(c.token_logprobs))


def test_memory_bounds_split_the_work_without_changing_results(monkeypatch):
    model = tiny()
    prompts = [enc("12+7="), enc("a"), enc("the longest prompt here")]
    kw = dict(n=3, max_tokens=[6, 12, 9], temperature=1.0, seeds=range(9))
    big = Sampler(model, TOK)
    want = big.generate(prompts, **kw)
    monkeypatch.setattr("ponder.lm.layout.PREFILL_TOKENS", 16)  # one prompt per prefill
    small = Sampler(model, TOK, cache_bytes=2 * 2 * 32 * 4 * 40 * 2)  # room for two rows
    got = small.generate(prompts, **kw)
    assert [[c.text for c in r] for r in got] == [[c.text for c in r] for r in want]
    assert small.engine.peak_rows < big.engine.peak_rows == 9  # the bound held rows back
    # rows join as others finish, so a prompt's samples may be prefilled more than once
    assert small.prefill_tokens > sum(len(p) for p in prompts)


def test_eos_ends_a_row_and_is_counted_but_not_in_text():
    model = tiny()
    first = naive_greedy(model, enc("abc"), 3, -1)
    tok = CharTokenizer()
    tok.eos_id = first[2]  # make the third greedy token the end of sequence
    (c,), = Sampler(model, tok).generate([enc("abc")], max_tokens=10, temperature=0)
    assert (c.finish_reason, c.tokens, c.text) == ("eos", 3, TOK.decode(first[:2]))


def test_sampled_logprobs_equal_teacher_forcing():
    model = tiny()
    prompts = [enc("hello"), enc("a much longer prompt")]
    out = Sampler(model, TOK).generate(prompts, n=3, max_tokens=12, temperature=1.3,
                                       top_p=0.9, seeds=list(range(6)))
    comps = [c for row in out for c in row]
    lp, mask = completion_logprobs(model, [p for p in prompts for _ in range(3)],
                                   [ids_of(c) for c in comps])
    for r, c in enumerate(comps):
        assert int(mask[r].sum()) == c.tokens
        torch.testing.assert_close(lp[r, : c.tokens], torch.tensor(c.token_logprobs),
                                   atol=1e-4, rtol=1e-4)


def test_stop_strings_cut_after_the_earliest_ending_stop():
    model = tiny()
    s = Sampler(model, TOK)
    (full,), = s.generate([enc("ab")], max_tokens=30, temperature=0)
    text = full.text  # one character per token for this prompt
    a, b = text[6:8], text[10:13]  # b ends later: a wins
    (c,), = s.generate([enc("ab")], max_tokens=30, temperature=0, stop=[b, a])
    end = text.find(a) + len(a)
    assert (c.text, c.finish_reason, c.tokens) == (text[:end], "stop", end)
    assert c.token_logprobs == full.token_logprobs[:end]
    # a stop string found only across the prompt/completion boundary does not count
    (d,), = s.generate([enc("ab")], max_tokens=30, temperature=0, stop=["b" + text[0]])
    assert d.text == text and d.finish_reason == full.finish_reason


def test_stop_string_inside_a_special_token_cuts_the_text_mid_token():
    model = tiny()
    (full,), = Sampler(model, TOK).generate([enc("q")], max_tokens=30, temperature=0)
    assert full.text.startswith("<bos>aQ+K'<think>")  # this model's greedy output
    (c,), = Sampler(model, TOK).generate([enc("q")], max_tokens=30, temperature=0,
                                         stop=["hink"])
    assert (c.text, c.tokens, c.finish_reason) == ("<bos>aQ+K'<think", 7, "stop")


def test_per_prompt_max_tokens_and_zero_budget():
    model = tiny()
    out = Sampler(model, TOK).generate([enc("ab"), enc("cd"), enc("ef")], n=2,
                                       max_tokens=[3, 0, 7], temperature=0.8, seeds=range(6))
    assert [c.tokens for c in out[0]] == [3, 3] and [c.tokens for c in out[2]] == [7, 7]
    assert all(c.finish_reason == "length" for row in out for c in row)
    assert [(c.text, c.flops) for c in out[1]] == [("", 0.0), ("", 0.0)]


def test_seeds_reproducible_and_independent_of_the_batch():
    model = tiny()
    s = Sampler(model, TOK)
    kw = dict(max_tokens=15, temperature=1.0)
    a = s.generate([enc("x"), enc("longer prompt")], n=2, seeds=[1, 2, 3, 4], **kw)
    b = s.generate([enc("x"), enc("longer prompt")], n=2, seeds=[1, 2, 3, 4], **kw)
    assert [[c.text for c in r] for r in a] == [[c.text for c in r] for r in b]
    assert a[0][0].text != a[0][1].text  # different seeds, different samples
    alone = s.generate([enc("longer prompt")], n=1, seeds=[4], **kw)
    assert alone[0][0].text == a[1][1].text
    # a longer budget (other noise block sizes) extends the same sample
    longer = s.generate([enc("x")], n=1, max_tokens=40, temperature=1.0, seeds=[1])[0][0]
    assert ids_of(longer)[:15] == ids_of(a[0][0])


def test_sampling_follows_the_tempered_distribution():
    model = tiny()
    prompt = enc("7")
    with torch.no_grad():
        logits = model(torch.tensor([prompt]))[0, -1]
    n = 3000
    for temperature in (1.0, 0.5):
        out = Sampler(model, TOK).generate([prompt], n=n, max_tokens=1,
                                           temperature=temperature, seeds=range(n))
        counts = torch.bincount(torch.tensor([ids_of(c)[0] for c in out[0]]),
                                minlength=TOK.vocab_size).float()
        p = torch.softmax(logits / temperature, -1)
        assert 0.5 * (counts / n - p).abs().sum() < 0.06  # total variation distance


def test_top_p_keeps_to_the_nucleus_and_tiny_top_p_is_greedy():
    model = tiny()
    s = Sampler(model, TOK)
    prompts = [enc("ab"), enc("some other prompt")]
    greedy = s.generate(prompts, max_tokens=12, temperature=0)
    tiny_p = s.generate(prompts, max_tokens=12, temperature=1.0, top_p=1e-6, seeds=[5, 6])
    assert [r[0].text for r in tiny_p] == [r[0].text for r in greedy]
    with torch.no_grad():
        probs = torch.softmax(model(torch.tensor([prompts[0]]))[0, -1], -1)
    sorted_p, order = probs.sort(descending=True)
    nucleus = set(order[: int((sorted_p.cumsum(0) < 0.5).sum()) + 1].tolist())
    out = s.generate([prompts[0]], n=200, max_tokens=1, temperature=1.0, top_p=0.5,
                     seeds=range(200))
    assert {ids_of(c)[0] for c in out[0]} == nucleus


def test_n_samples_share_one_prefill_and_its_flops():
    model = tiny()
    s = Sampler(model, TOK)
    prompts = [enc("shared prompt"), enc("other"), enc("shared prompt")]
    out = s.generate(prompts, n=4, max_tokens=5, temperature=1.0, seeds=range(12))
    assert s.prefill_tokens == len(prompts[0]) + len(prompts[1])  # duplicates prefilled once
    f = model.flops_per_token
    P = len(prompts[1])
    prefill = sum(f(c) for c in range(1, P + 1))
    decode = sum(sum(f(P + k) for k in range(1, c.tokens + 1)) for c in out[1])
    assert sum(c.flops for c in out[1]) == pytest.approx(prefill + decode)


def test_continuing_a_partial_completion_equals_one_go():
    model = tiny()
    s = Sampler(model, TOK)
    prompts = [enc("question one"), enc("q2")]
    whole = [ids_of(r[0]) for r in s.generate(prompts, max_tokens=16, temperature=0)]
    lps = [r[0].token_logprobs for r in s.generate(prompts, max_tokens=16, temperature=0)]
    splits = [5, 11]  # prompts of different lengths again, so rows are padded differently
    parts = s.generate([p + w[:k] for p, w, k in zip(prompts, whole, splits, strict=True)],
                       max_tokens=[16 - k for k in splits], temperature=0)
    for w, lp, k, (c,) in zip(whole, lps, splits, parts, strict=True):
        assert ids_of(c) == w[k:]
        assert c.token_logprobs == pytest.approx(lp[k:], abs=1e-5)
    # again, from sequences that were themselves continued (kept with a gap between the
    # stored prefix and the new tokens): the stored keys/values are still the right ones
    hits = s.engine.prefix_hits
    again = s.generate([p + w[:k + 3] for p, w, k in zip(prompts, whole, splits, strict=True)],
                       max_tokens=[13 - k for k in splits], temperature=0)
    assert s.engine.prefix_hits >= hits + 2
    for w, k, (c,) in zip(whole, splits, again, strict=True):
        assert ids_of(c) == w[k + 3:]


def test_weight_updates_are_seen_by_the_next_generate():
    model = tiny()
    s = Sampler(model, TOK)
    before = s.generate([enc("abc")], max_tokens=10, temperature=0)[0][0].text
    with torch.no_grad():  # an in-place update, as an optimizer step makes
        model.model.layers[0].mlp.down_proj.weight.mul_(-3)
    after = s.generate([enc("abc")], max_tokens=10, temperature=0)[0][0]
    assert ids_of(after) == naive_greedy(model, enc("abc"), 10, TOK.eos_id)
    assert after.text != before


def test_completion_logprobs_are_differentiable_and_masked():
    model = tiny()
    prompts, comps = [enc("a"), enc("bcd")], [TOK.encode("xyz"), TOK.encode("q")]
    lp, mask = completion_logprobs(model, prompts, comps)
    assert mask.tolist() == [[True] * 3, [True, False, False]] and lp[1, 1:].eq(0).all()
    with torch.no_grad():
        full = torch.log_softmax(model(torch.tensor([prompts[0] + comps[0]]))[0], -1)
    ref = [full[len(prompts[0]) - 1 + j, t] for j, t in enumerate(comps[0])]
    torch.testing.assert_close(lp[0], torch.stack(ref), atol=1e-5, rtol=1e-5)
    total = sequence_logprobs(model, prompts, comps)
    torch.testing.assert_close(total, lp.sum(-1))
    total.sum().backward()
    assert model.model.embed_tokens.weight.grad.abs().sum() > 0


def test_shared_prompts_give_the_unshared_logprobs_and_gradients():
    """Rows repeating a prompt run it once; log-probs and gradients equal one pass over
    every full row (prompts of unequal lengths, out of order, one-token completions)."""
    model = tiny()
    short, long = enc("a"), enc("a much longer prompt")
    prompts = [short, long, short, long, long, short]
    gen = torch.Generator().manual_seed(0)
    comps = [torch.randint(5, TOK.vocab_size, (n,), generator=gen).tolist()
             for n in (4, 1, 7, 3, 6, 2)]
    weights = torch.randn(6, 7, generator=gen)
    out = []
    for share in (False, True):
        model.zero_grad(set_to_none=True)
        lp, mask = completion_logprobs(model, prompts, comps, share_prompts=share)
        (lp * weights).sum().backward()
        out.append((lp.detach(), mask, [p.grad.clone() for p in model.parameters()]))
    (lp0, m0, g0), (lp1, m1, g1) = out
    assert torch.equal(m0, m1) and int(m0.sum()) == 23
    assert (lp0[m0] < 0).all()
    torch.testing.assert_close(lp0, lp1, atol=1e-5, rtol=1e-5)
    for a, b in zip(g0, g1, strict=True):  # float32 rounding, relative to the scale
        assert (a - b).norm() <= 1e-5 * a.norm()
    (lp2, _), = [completion_logprobs(model, prompts[:1] * 2, [[7], [9]])]  # C == 1
    torch.testing.assert_close(lp2, completion_logprobs(model, prompts[:1] * 2, [[7], [9]],
                                                        share_prompts=False)[0])


def test_sampler_rejects_bad_arguments():
    s = Sampler(tiny(), TOK)
    for kw in (dict(n=0), dict(temperature=-1), dict(top_p=0), dict(max_tokens=[1, 2]),
               dict(max_tokens=-1), dict(max_tokens=70)):
        with pytest.raises(InvalidInput):
            s.generate([enc("a")], **kw)
    with pytest.raises(InvalidInput, match="empty"):
        s.generate([[]])
    with pytest.raises(InvalidInput, match="seeds"):
        s.generate([enc("a")], n=2, max_tokens=5, seeds=[1])


def test_flops_grow_with_context():
    model = tiny()
    (c,), = Sampler(model, TOK).generate([enc("ab")], max_tokens=4, temperature=0)
    assert c.flops > model.flops_per_token(0) * (3 + 4)
    assert math.isfinite(c.logprob)


def test_a_long_prompt_that_finishes_early_beside_a_long_generation_stays_in_context():
    """Row 0 fills the context with its prompt and stops after 2 tokens; four short rows
    keep decoding for 40 more steps while row 0 (a fifth of the batch, too few to
    compact) still sits in it."""
    model = tiny()
    long = enc("x" * 61)  # 62 + 2 = 64 = the context
    shorts = [enc(str(d)) for d in range(4)]
    out = Sampler(model, TOK).generate([long, *shorts], max_tokens=[2] + [40] * 4,
                                       temperature=0, ignore_eos=True)
    assert [o[0].tokens for o in out] == [2, 40, 40, 40, 40]
    alone = Sampler(model, TOK).generate([long], max_tokens=2, temperature=0, ignore_eos=True)
    assert out[0][0].text == alone[0][0].text
