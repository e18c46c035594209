"""Generation with thoughts: plain when thinking is off, the training rollout's mixed
prediction when on, independent of batch layout."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ponder.lm.base import LM
from ponder.lm.native import NativeLM
from ponder.lm.tokenizer import CharTokenizer
from ponder.quietstar.generate import QuietStarLM
from ponder.quietstar.model import ThoughtConfig
from ponder.quietstar.objective import mixed_predictions
from ponder.quietstar.thoughts import rollout
from tests.quietstar.conftest import tiny_native

PROMPTS = ["What is 3 + 4?\n", "Sum 1 2\n"]


def test_without_thoughts_it_is_the_plain_model(qs):
    plain = NativeLM(qs.backbone.model, CharTokenizer())
    lm = QuietStarLM(qs, thought_tokens=0)
    assert isinstance(lm, LM)
    a = [c[0].text for c in lm.generate(PROMPTS, max_tokens=6, temperature=0.0)]
    b = [c[0].text for c in plain.generate(PROMPTS, max_tokens=6, temperature=0.0)]
    assert a == b


def test_first_token_is_the_rollouts_mixed_prediction():
    qs = tiny_native(cfg=ThoughtConfig(thought_tokens=3, temperature=0.0))
    with torch.no_grad():  # a trained-looking mixing head: trust the thought half-way
        qs.mixer.mlp[-1].bias.fill_(0.0)
    ids = torch.tensor([qs.codec.encode(PROMPTS[0], bos=True)])
    with torch.no_grad():
        ro = rollout(qs, ids, thought_tokens=3, n_thoughts=1, n_true=1, temperature=0.0)
        mixed, _ = mixed_predictions(qs, ro, 1)
    want = F.log_softmax(mixed[0, -1, 0], -1)
    [[d]] = QuietStarLM(qs).generate_decoded([PROMPTS[0]], max_tokens=1, temperature=0.0)
    assert d.tokens[0] == int(want.argmax()) or d.reason == "eos"
    assert d.thoughts[0] == ro.tokens[0, -1].tolist()
    if d.tokens:
        assert abs(d.logps[0] - float(want.max())) < 1e-4


def test_a_sample_does_not_depend_on_the_batch():
    qs = tiny_native(cfg=ThoughtConfig(thought_tokens=2))
    lm = QuietStarLM(qs)
    both = lm.generate_decoded(PROMPTS, n=2, max_tokens=5, temperature=1.0, seed=3)
    alone = lm.generate_decoded(PROMPTS[1:], n=2, max_tokens=5, temperature=1.0, seed=3)
    assert [d.tokens for d in both[1]] == [d.tokens for d in alone[0]]
    assert [d.thoughts for d in both[1]] == [d.thoughts for d in alone[0]]
    c = lm.generate(PROMPTS[:1], max_tokens=4, seed=0)[0][0]
    assert c.flops > 0 and len(c.token_logprobs) == len(c.text) <= 4
