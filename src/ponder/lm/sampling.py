"""Sampling rules every backend shares (native, hf, vllm, http, function; Quiet-STaR's
generator too), written once so that the backends agree on them:

- ``check_generate_args``: the argument checks of ``LM.generate``;
- ``stop_cut``: where a stop string ends a completion's text;
- ``row_seed``: each sample's seed, from ``(seed, prompt, sample index)`` only, so a
  sample does not depend on which other prompts share its batch;
- ``nucleus_drop`` / ``choose_tokens``: top-p (nucleus) truncation and a seeded draw.

How a backend turns its seeds into random numbers stays its own (the native sampler adds
Gumbel noise drawn in blocks, ``choose_tokens`` inverts the CDF), as does its incremental
stop check while decoding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ponder.errors import InvalidInput


def check_generate_args(prompts: Sequence, n: int, max_tokens: int | Sequence[int],
                        temperature: float, top_p: float) -> list[int]:
    """Validate the arguments of ``generate`` (prompts as texts or token ids); return one
    token limit per prompt."""
    if isinstance(prompts, str):
        raise InvalidInput("prompts must be a list of strings, not a single string")
    if n < 1:
        raise InvalidInput(f"n must be at least 1, got {n}")
    if temperature < 0:
        raise InvalidInput(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    if not 0 < top_p <= 1:
        raise InvalidInput(f"top_p must be in (0, 1], got {top_p}")
    if isinstance(max_tokens, int):
        limits = [max_tokens] * len(prompts)
    else:
        limits = list(max_tokens)
        if len(limits) != len(prompts):
            raise InvalidInput(f"max_tokens has {len(limits)} limits for {len(prompts)} prompts")
    if any(m < 0 for m in limits):
        raise InvalidInput(f"max_tokens must be >= 0, got {min(limits)}")
    return limits


def stop_cut(text: str, stop: Sequence[str]) -> int:
    """End index of the earliest-ending stop string in ``text`` (the text is kept up to
    and including it), or -1 if none occurs; an empty stop string stops nothing.

    >>> stop_cut("a=1;b=2;", [";", "b="]), stop_cut("abc", ["", "x"])
    (4, -1)
    """
    return min((text.find(s) + len(s) for s in stop if s and s in text), default=-1)


def row_seed(seed: int | None, prompt: str, index: int, bits: int = 63) -> int:
    """Seed of sample ``index`` of ``prompt``: a hash of the three, so samples do not
    depend on batch layout. 63 bits fit a ``torch.Generator`` seed; ``FunctionLM`` takes
    all 64 for its ``random.Random``."""
    h = hashlib.sha256(f"{seed}\x00{prompt}\x00{index}".encode()).digest()
    return int.from_bytes(h[:8], "big") >> (64 - bits)


def nucleus_drop(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """(R, V) mask of the tokens outside each row's top-``top_p`` nucleus (Holtzman et al.
    2020) of ``probs`` (R, V): the most likely tokens are kept until their mass reaches
    ``top_p``; the most likely token is always kept."""
    sorted_p, order = probs.sort(dim=-1, descending=True)
    drop = sorted_p.cumsum(dim=-1) - sorted_p >= top_p  # the mass before it already suffices
    return torch.zeros_like(drop).scatter(-1, order, drop)


def gumbel_choice(logits: torch.Tensor, temperature: torch.Tensor, top_p: torch.Tensor,
                  noise: torch.Tensor) -> torch.Tensor:
    """One token per row of ``logits`` (S, V), each row with its own temperature (S,) > 0
    and nucleus ``top_p`` (S,): the argmax of the temperature-scaled logits, cut to the
    nucleus, plus the row's Gumbel ``noise`` (S, V), which is a draw from that
    distribution (the Gumbel-max trick)."""
    z = logits / temperature[:, None]
    cut = top_p < 1
    if bool(cut.any()):
        zc = z[cut]
        z[cut] = zc.masked_fill(nucleus_drop(zc.softmax(dim=-1), top_p[cut, None]),
                                float("-inf"))
    return (z + noise).argmax(dim=-1)


def choose_tokens(logits: torch.Tensor, temperature: float, top_p: float,
                  gens: list[torch.Generator]) -> torch.Tensor:
    """One token per row of ``logits`` (R, V): argmax at temperature 0, otherwise a draw
    from the temperature-scaled distribution cut to its nucleus, by inverse CDF with one
    uniform number from each row's own generator."""
    if temperature == 0:
        return logits.argmax(-1)
    probs = F.softmax(logits.float() / temperature, dim=-1)  # (R, V)
    if top_p < 1:
        probs = probs.masked_fill(nucleus_drop(probs, top_p), 0.0)
    cdf = probs.cumsum(-1)  # (R, V)
    u = torch.stack([torch.rand((), generator=g) for g in gens]).to(cdf.device)
    idx = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None]).squeeze(-1)
    return idx.clamp(max=logits.shape[-1] - 1)


def pad_right(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, attention mask), both (B, T), padded on the right (harmless for a causal
    model read at real positions)."""
    T = max(len(s) for s in seqs)
    idx = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), T), dtype=torch.long)
    for r, ids in enumerate(seqs):
        idx[r, : len(ids)] = torch.tensor(ids)
        mask[r, : len(ids)] = 1
    return idx, mask
