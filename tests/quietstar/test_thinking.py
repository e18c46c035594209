"""Generation with thoughts through the engine: the same tokens and log-probs as the
per-batch reference loop, batch-independent samples, and engine features (concurrent
callers, long generations that move the cache) working with thoughts."""

from __future__ import annotations

import threading

import pytest
import torch

from ponder.lm import layout
from ponder.quietstar.generate import QuietStarLM
from ponder.quietstar.model import ThoughtConfig
from ponder.quietstar.thinking import ThinkingDecoder
from tests.quietstar.conftest import tiny_native

PROMPTS = ["What is 3 + 4?\n", "Sum 1 2\n", "12*3=\n"]


def trusting(cfg: ThoughtConfig):
    qs = tiny_native(cfg=cfg)
    with torch.no_grad():  # a trained-looking mixing head: the thought counts half-way
        qs.mixer.mlp[-1].bias.fill_(0.0)
    return qs


@pytest.mark.parametrize("pause", [False, True])
def test_engine_matches_the_reference_loop(pause):
    qs = trusting(ThoughtConfig(thought_tokens=3, temperature=0.0, pause=pause))
    lm = QuietStarLM(qs)
    assert lm.sampler is not None
    got = lm.generate(PROMPTS, max_tokens=8, temperature=0.0, seed=0)
    want = QuietStarLM(qs, engine=False).generate(PROMPTS, max_tokens=8, temperature=0.0,
                                                    seed=0)
    for g, w in zip(got, want, strict=True):
        assert g[0].text == w[0].text and g[0].tokens == w[0].tokens
        assert g[0].finish_reason == w[0].finish_reason
        assert torch.allclose(torch.tensor(g[0].token_logprobs),
                              torch.tensor(w[0].token_logprobs), atol=1e-4)
        assert g[0].flops == pytest.approx(w[0].flops)


def test_thinking_changes_the_prediction():
    qs = trusting(ThoughtConfig(thought_tokens=3, temperature=0.0))
    a = QuietStarLM(qs).generate(PROMPTS, max_tokens=4, temperature=0.0, seed=0)
    b = QuietStarLM(qs, thought_tokens=0).generate(PROMPTS, max_tokens=4, temperature=0.0,
                                                   seed=0)
    assert [c[0].token_logprobs for c in a] != [c[0].token_logprobs for c in b]
    assert a[0][0].flops > b[0][0].flops


def test_a_sample_does_not_depend_on_its_batch_or_callers():
    qs = trusting(ThoughtConfig(thought_tokens=2, temperature=1.0))
    lm = QuietStarLM(qs)
    alone = lm.generate(PROMPTS[1:2], n=2, max_tokens=6, temperature=1.0, seed=3)
    results: dict[int, list] = {}

    def call(i: int) -> None:  # concurrent callers share the engine's batch
        results[i] = lm.generate(PROMPTS, n=2, max_tokens=6, temperature=1.0, seed=3)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for out in results.values():
        assert [c.text for c in out[1]] == [c.text for c in alone[0]]
    assert lm.sampler.engine.peak_rows > 2


def test_growing_cache_keeps_room_for_the_thought(monkeypatch):
    # a small first allocation: the engine grows its cache columns mid-generation, and
    # every step must still have the thought's columns past the text
    monkeypatch.setattr(layout, "MIN_COLUMNS", 8)
    qs = trusting(ThoughtConfig(thought_tokens=4, temperature=0.0))
    lm = QuietStarLM(qs)
    got = lm.generate(PROMPTS, max_tokens=60, temperature=0.0, seed=0)
    assert lm.sampler.engine.cache[0].shape[3] >= 16
    want = QuietStarLM(qs, engine=False).generate(PROMPTS, max_tokens=60, temperature=0.0,
                                                    seed=0)
    assert [c[0].text for c in got] == [c[0].text for c in want]


def test_the_decoder_needs_the_builtin_backbone():
    qs = tiny_native()
    qs.backbone = object()  # type: ignore[assignment]
    with pytest.raises(TypeError, match="built-in"):
        ThinkingDecoder(qs, 2)
