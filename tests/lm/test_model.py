import pytest
import torch

from ponder.errors import UnknownName
from ponder.lm.model import PRESETS, Context, ModelConfig, Transformer, pool_kv_heads, preset
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
def test_a_context_continues_a_recorded_prefix_as_one_pass_would():
    """Recording a prefix's keys/values, then running the rest with them and a causal
    mask over prefix + rest, gives the hidden states of the whole sequence at once."""
    model = tiny()
    ids = torch.randint(0, V, (2, 15))
    whole = model.hidden(ids)
    rec = Context(record=True)
    head = model.hidden(ids[:, :9], ctx=rec)
    assert len(rec.kept) == 2 and rec.kept[0][0].shape == (2, 4, 9, 8)
    mask = torch.ones(6, 15, dtype=torch.bool).tril(9)[None, None].expand(2, 1, 6, 15)
    tail = model.hidden(ids[:, 9:], torch.arange(9, 15).expand(2, 6), Context(rec.kept, mask))
    torch.testing.assert_close(torch.cat([head, tail], 1), whole, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="mask"):
        Context(rec.kept)


@torch.no_grad()
def test_positions_shift_rotary_embeddings_only_relatively():
    """Rotary positions: one offset added to every position leaves the logits unchanged
    (attention sees only relative positions), while positions out of order change them."""
    model = tiny()
    ids = torch.randint(0, V, (2, 10))
    base = model(ids)
    shifted = model(ids, positions=torch.arange(10).expand(2, 10) + 37)
    torch.testing.assert_close(base, shifted, atol=1e-4, rtol=1e-4)
    scrambled = model(ids, positions=torch.arange(10).flip(0).expand(2, 10))
    assert (base - scrambled).abs().max() > 1e-3


@torch.no_grad()
def test_position_scale_multiplies_every_rotary_position():
    """A model with ``position_scale`` 2 at positions 0..T-1 is the same model at
    positions 0, 2, 4, ...; a bad scale is refused."""
    ids = torch.randint(0, V, (2, 12))
    scaled, plain = tiny(position_scale=2.0), tiny()
    doubled = plain(ids, positions=2 * torch.arange(12).expand(2, 12))
    torch.testing.assert_close(scaled(ids), doubled, atol=1e-4, rtol=1e-4)
    assert (scaled(ids) - plain(ids)).abs().max() > 1e-3
    with pytest.raises(ValueError, match="position_scale"):
        ModelConfig(position_scale=-1.0)


@torch.no_grad()
def test_position_scale_zero_is_a_model_without_positions():
    """NoPE: any positions give the same logits, yet order still matters through the
    causal mask (a token sees only what came before it)."""
    ids = torch.randint(0, V, (2, 12))
    nope = tiny(position_scale=0.0)
    base = nope(ids)
    scrambled = nope(ids, positions=torch.randperm(12).expand(2, 12) * 7)
    torch.testing.assert_close(base, scrambled, atol=1e-5, rtol=1e-5)
    ids[:, 2], ids[:, 5] = 3, 4  # two different tokens, then swapped: the same last
    swapped = ids.clone()        # token sees the same set of tokens in another order
    swapped[:, 2], swapped[:, 5] = 4, 3
    assert (nope(swapped)[:, -1] - nope(ids)[:, -1]).abs().max() > 1e-4
    assert nope.cfg.rope_scaling_factor == 1e30 and tiny().cfg.rope_scaling_factor == 1.0


@pytest.mark.parametrize("name,millions", [("tiny", 0.3), ("small", 1.0), ("base", 4.0),
                                           ("large", 12.0)])
def test_preset_parameter_counts(name, millions):
    n = Transformer(preset(name, vocab_size=V)).num_params()
    assert abs(n / 1e6 - millions) / millions < 0.2, n


def test_preset_errors():
    with pytest.raises(UnknownName, match="huge"):
        preset("huge")
    assert set(PRESETS) == {"micro", "tiny", "small", "base", "large"}
    with pytest.raises(ValueError, match="heads"):
        ModelConfig(d_model=30, n_head=4)


@torch.no_grad()
def test_grouped_query_attention_shares_each_key_value_head_among_its_query_heads():
    """n_kv_head=2 of 4: query heads 0-1 read key/value head 0 and heads 2-3 head 1, as
    Llama's repeat_kv does; the same model with its key/value projections repeated into
    4 heads (multi-head attention) gives the same logits."""
    gqa = tiny(n_kv_head=2)
    a = gqa.model.layers[0].self_attn
    assert a.k_proj.weight.shape == a.v_proj.weight.shape == (16, 32)  # 2 heads of 8
    assert gqa.num_params() == tiny().num_params() - 2 * 2 * 16 * 32  # 2 layers, k and v
    mha = tiny()
    state = gqa.state_dict()
    for key, w in state.items():
        if key.endswith(("k_proj.weight", "v_proj.weight")):
            state[key] = w.view(2, 1, 8, 32).expand(2, 2, 8, 32).reshape(32, 32)
    mha.load_state_dict(state)
    ids = torch.randint(0, V, (2, 13))
    torch.testing.assert_close(gqa(ids), mha(ids), atol=1e-5, rtol=1e-5)
    rec = Context(record=True)
    gqa.hidden(ids, ctx=rec)
    assert rec.kept[0][0].shape == (2, 2, 13, 8)  # the cache keeps 2 heads, not 4
    with pytest.raises(ValueError, match="n_kv_head"):
        ModelConfig(n_head=4, n_kv_head=3)
    assert ModelConfig(n_head=4).kv_heads == 4 and ModelConfig(n_kv_head=1).kv_heads == 1


@torch.no_grad()
def test_pooling_key_value_heads_averages_each_group_and_keeps_the_rest():
    mha = tiny()
    gqa = pool_kv_heads(mha, 2)
    assert gqa.cfg.kv_heads == 2 and mha.cfg.kv_heads == 4  # the original is untouched
    k4 = mha.model.layers[1].self_attn.k_proj.weight.view(4, 8, 32)
    k2 = gqa.model.layers[1].self_attn.k_proj.weight.view(2, 8, 32)
    torch.testing.assert_close(k2[1], (k4[2] + k4[3]) / 2)  # heads 2-3 share pooled head 1
    torch.testing.assert_close(gqa.model.layers[1].self_attn.q_proj.weight,
                               mha.model.layers[1].self_attn.q_proj.weight)
    # heads whose keys and values were equal within each group pool to the same model
    same = tiny()
    for layer in same.model.layers:
        for proj in (layer.self_attn.k_proj, layer.self_attn.v_proj):
            w = proj.weight.view(2, 2, 8, 32)
            w[:, 1] = w[:, 0]
    ids = torch.randint(0, V, (2, 9))
    torch.testing.assert_close(pool_kv_heads(same, 2)(ids), same(ids), atol=1e-5, rtol=1e-5)
    assert pool_kv_heads(gqa, 1).cfg.kv_heads == 1
    with pytest.raises(ValueError, match="must divide"):
        pool_kv_heads(gqa, 4)  # cannot un-pool


def test_flops_per_token_counts_matmuls_and_attention():
    model = tiny()
    cfg = model.cfg
    n = model.num_params()  # tied: the unembedding matmul uses the embedding table
    assert model.flops_per_token(context=0) == 2.0 * n
    assert model.flops_per_token(context=10) == 2.0 * n + 2.0 * cfg.n_layer * 10 * cfg.d_model
