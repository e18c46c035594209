"""The LM protocol every backend implements (native, hf, vllm, http).

Search and training code talk to models only through this protocol; they never import
a backend directly. ``generate`` is batched and returns, for each prompt, ``n``
Completions carrying token counts, log-probs and the FLOPs they cost. The rules the
backends share (argument checks, stop strings, per-sample seeds, the nucleus) are in
``ponder.lm.sampling``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

FinishReason = str  # "stop" (a stop string), "eos", "length"


class Cancelled(Exception):
    """The work was cancelled (for example, the client that asked for it went away)."""


@dataclass
class Completion:
    """One sampled continuation of one prompt."""

    text: str
    prompt_tokens: int
    tokens: int  # generated tokens (stop string included if it ended the text)
    logprob: float = 0.0  # sum of the sampled tokens' log-probs
    token_logprobs: list[float] | None = None
    finish_reason: FinishReason = "length"
    flops: float = 0.0  # this completion's share of prefill + decode FLOPs


@dataclass
class SamplingParams:
    """Arguments of ``LM.generate`` gathered for code that passes them along."""

    n: int = 1
    max_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None


@runtime_checkable
class LM(Protocol):
    """What every backend provides."""

    name: str
    #: forward FLOPs for one token (≈ 2 × non-embedding parameters + attention term
    #: at typical context); strategies use it for compute accounting.
    flops_per_token: float
    #: longest prompt + completion the model accepts, in tokens
    max_context: int

    def generate(
        self,
        prompts: list[str],
        n: int = 1,
        max_tokens: int = 256,
        temperature: float = 1.0,
        top_p: float = 1.0,
        stop: list[str] | None = None,
        seed: int | None = None,
    ) -> list[list[Completion]]:
        """For each prompt, ``n`` completions. ``temperature == 0`` is greedy.
        ``max_tokens`` may also be a list with one limit per prompt."""
        ...

    def count_tokens(self, text: str) -> int:
        """Number of tokens ``text`` encodes to (no special tokens added)."""
        ...


@runtime_checkable
class TrainableLM(LM, Protocol):
    """Backends that score given completions (per-token log-probs, no gradients); the
    trainers work through ``ponder.train.policy.TrainablePolicy`` instead."""

    def logprobs(self, prompts: list[str], completions: list[str]) -> list[list[float]]:
        """Per-token log-probs of each completion given its prompt."""
        ...

