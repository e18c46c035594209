"""An LM whose completions come from a Python function: for tests, examples and for
wiring strategies before a model exists. One character is one token, as in ponder's
built-in tokenizer, so token counts and budgets behave like the real thing."""

from __future__ import annotations

import random
from collections.abc import Callable

from ponder.lm.base import Completion
from ponder.lm.sampling import row_seed, stop_cut


class FunctionLM:
    """``fn(prompt, rng, temperature) -> text``; ``rng`` is seeded from
    ``(seed, prompt, sample index)`` so results are reproducible."""

    def __init__(self, fn: Callable[[str, random.Random, float], str], name: str = "function",
                 flops_per_token: float = 1e6, max_context: int = 4096):
        self.fn, self.name = fn, name
        self.flops_per_token, self.max_context = flops_per_token, max_context
        self.calls = 0  # number of generate() calls, for tests of batching

    def count_tokens(self, text: str) -> int:
        return len(text)

    def generate(self, prompts: list[str], n: int = 1, max_tokens: int | list[int] = 256,
                 temperature: float = 1.0, top_p: float = 1.0, stop: list[str] | None = None,
                 seed: int | None = None) -> list[list[Completion]]:
        self.calls += 1
        limits = max_tokens if isinstance(max_tokens, list) else [max_tokens] * len(prompts)
        out = []
        for prompt, limit in zip(prompts, limits, strict=True):
            row = []
            for j in range(n):
                rng = random.Random(row_seed(seed, prompt, j, bits=64))
                text = self.fn(prompt, rng, temperature)
                reason = "eos"
                if (cut := stop_cut(text, stop or [])) >= 0:
                    text, reason = text[:cut], "stop"
                if len(text) > limit:
                    text, reason = text[:limit], "length"
                toks = len(text)
                row.append(Completion(text=text, prompt_tokens=len(prompt), tokens=toks,
                                      logprob=-float(toks), finish_reason=reason,
                                      flops=self.flops_per_token * (len(prompt) / n + toks)))
            out.append(row)
        return out
