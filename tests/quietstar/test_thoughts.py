"""Parallel thoughts equal thoughts made one position at a time (the mask is right)."""

from __future__ import annotations

import pytest
import torch

from ponder.quietstar import mask
from ponder.quietstar.thoughts import rollout
from tests.quietstar.reference import logsoftmax_close, native_hidden, thoughts_alone


def test_native_forward_equals_transformer(qs, text_ids):
    L = text_ids.shape[1]
    h, cache = qs.backbone.forward(qs.embed(text_ids), torch.arange(L)[None].expand_as(text_ids),
                                   None, mask.causal(L)[None, None])
    with torch.no_grad():
        want = qs.backbone.model(text_ids)
    assert torch.allclose(qs.backbone.logits(h), want, atol=1e-5)
    assert qs.backbone.cache_len(cache) == L


def test_mask_shape_and_visibility():
    m = mask.thought_step(4, 1)  # keys: text(4) | step0(4) | step1(4)
    assert m.shape == (4, 12)
    i = 2
    assert m[i, :4].tolist() == [True, True, True, False]  # text up to its own position
    for block in (1, 2):  # only its own position in each thought step
        assert m[i, 4 * block : 4 * block + 4].tolist() == [False, False, True, False]


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_parallel_thoughts_equal_thoughts_made_alone(qs, text_ids, temperature):
    t, N, K = 3, 2, 2
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        ro = rollout(qs, text_ids, thought_tokens=t, n_thoughts=N, n_true=K,
                     temperature=temperature, generator=g)
        tokens, logits, talk = thoughts_alone(qs, text_ids, native_hidden(qs), thought_tokens=t,
                                              n_thoughts=N, n_true=K,
                                              temperature=temperature, seed=7)
    assert torch.equal(ro.tokens, tokens)
    assert logsoftmax_close(ro.logits, logits)
    assert torch.allclose(ro.talk_hidden, talk, atol=1e-4)
    if temperature > 0:  # the two thoughts of a position differ somewhere
        assert not torch.equal(ro.tokens[0::2], ro.tokens[1::2])


def test_thought_ignores_later_text(qs, text_ids):
    """Changing the text after position p leaves every thought at or before p unchanged."""
    p = 6
    other = text_ids.clone()
    other[:, p + 1 :] = (other[:, p + 1 :] + 5) % 90 + 5
    kw = dict(thought_tokens=3, n_thoughts=1, n_true=1, temperature=1.0)
    with torch.no_grad():
        a = rollout(qs, text_ids, generator=torch.Generator().manual_seed(1), **kw)
        b = rollout(qs, other, generator=torch.Generator().manual_seed(1), **kw)
    assert torch.equal(a.tokens[:, : p + 1], b.tokens[:, : p + 1])
    assert torch.allclose(a.talk_hidden[:, : p + 1], b.talk_hidden[:, : p + 1], atol=1e-5)
    assert not torch.allclose(a.base_logits[:, p + 1 :], b.base_logits[:, p + 1 :])


def test_pause_thoughts_are_filler(qs, text_ids):
    with torch.no_grad():
        ro = rollout(qs, text_ids, thought_tokens=4, n_thoughts=1, n_true=1, pause=True)
    assert bool((ro.tokens == qs.pause_id).all()) and ro.logits.shape[2] == 0
