import pytest
import torch

from ponder.errors import UnknownName
from ponder.lm.model import PRESETS, KVCache, ModelConfig, Transformer, preset
from ponder.lm.tokenizer import CharTokenizer

V = CharTokenizer().vocab_size


def tiny(**kw) -> Transformer:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=V, n_layer=2, n_head=4, d_model=32, d_ff=64,
                      max_seq_len=64, **kw)
    model = Transformer(cfg).eval()
    with torch.no_grad():  # larger weights than the init, so differences are visible
        for p in model.parameters():
            p.mul_(5)
    return model


def test_shapes_and_tied_embeddings():
    model = tiny()
    ids = torch.randint(0, V, (3, 11))
    assert model(ids).shape == (3, 11, V)
    assert model.hidden(ids).shape == (3, 11, 32)
    assert model.lm_head.weight is model.model.embed_tokens.weight


@torch.no_grad()
def test_causal_future_tokens_do_not_change_earlier_logits():
    model = tiny()
    ids = torch.randint(0, V, (2, 20))
    changed = ids.clone()
    changed[:, 12:] = (changed[:, 12:] + 7) % V
    a, b = model(ids), model(changed)
    torch.testing.assert_close(a[:, :12], b[:, :12])
    assert (a[:, 12:] - b[:, 12:]).abs().max() > 1e-3  # the change itself is seen


@torch.no_grad()
def test_cached_forward_equals_full_forward():
    """Prefill rows of different lengths, then decode one token at a time, each row at
    its own position: every logit equals the full (uncached) forward pass of that row."""
    model = tiny()
    lengths, total = [5, 9], 16
    seqs = [torch.randint(0, V, (total,)) for _ in lengths]
    full = [model(s[None])[0] for s in seqs]  # (T, V) each

    cache = KVCache(model.cfg, batch=2, max_len=total)
    P = max(lengths)
    # right padding: slots past a row's length hold junk that the mask hides until the
    # row's own decode step overwrites them
    prompt = torch.stack([s[:P] for s in seqs])
    positions = torch.arange(P).expand(2, P)
    logits = model(prompt, positions=positions, cache=cache, kv_len=P)
    for r, n in enumerate(lengths):
        torch.testing.assert_close(logits[r, :n], full[r][:n], atol=1e-5, rtol=1e-4)
    pos = torch.tensor(lengths)
    for _ in range(total - max(lengths)):
        step_ids = torch.stack([seqs[r][pos[r]] for r in range(2)])[:, None]
        out = model(step_ids, positions=pos[:, None], cache=cache, kv_len=int(pos.max()) + 1)
        for r in range(2):
            torch.testing.assert_close(out[r, 0], full[r][pos[r]], atol=1e-5, rtol=1e-4)
        pos = pos + 1


@torch.no_grad()
def test_cache_reorder_shares_a_prefill():
    model = tiny()
    ids = torch.randint(0, V, (1, 6))
    cache = KVCache(model.cfg, batch=1, max_len=8)
    model(ids, positions=torch.arange(6)[None], cache=cache, kv_len=6)
    cache.reorder(torch.tensor([0, 0, 0]))
    nxt = torch.tensor([[1], [2], [3]])
    out = model(nxt, positions=torch.full((3, 1), 6), cache=cache, kv_len=7)[:, 0]
    for r in range(3):
        full = model(torch.cat([ids[0], nxt[r]])[None])[0, -1]
        torch.testing.assert_close(out[r], full, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name,millions", [("tiny", 0.3), ("small", 1.0), ("base", 4.0),
                                           ("large", 12.0)])
def test_preset_parameter_counts(name, millions):
    n = Transformer(preset(name, vocab_size=V)).num_params()
    assert abs(n / 1e6 - millions) / millions < 0.2, n


def test_preset_errors():
    with pytest.raises(UnknownName, match="huge"):
        preset("huge")
    assert set(PRESETS) == {"tiny", "small", "base", "large"}
    with pytest.raises(ValueError, match="heads"):
        ModelConfig(d_model=30, n_head=4)


def test_flops_per_token_counts_matmuls_and_attention():
    model = tiny()
    cfg = model.cfg
    n = model.num_params()  # tied: the unembedding matmul uses the embedding table
    assert model.flops_per_token(context=0) == 2.0 * n
    assert model.flops_per_token(context=10) == 2.0 * n + 2.0 * cfg.n_layer * 10 * cfg.d_model
