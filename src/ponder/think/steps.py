"""Step-level generation: grow a completion one line of thinking at a time.

Beam search, lookahead and MCTS (Snell et al. 2024, §5.1) search over *steps*. In ponder's
template (``ponder.lm.template``) a step is one line of the thinking, so a prefix is
extended by sampling with ``stop=["\\n"]``. When the new line closes the thinking, the
answer line is generated at once in a second call (no stop), so one step either adds a
line of thinking or finishes the completion. Every call is added to a Compute record.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from ponder.lm.base import LM, Completion
from ponder.lm.template import THINK_CLOSE
from ponder.think.base import Budget, policy_compute
from ponder.think.compute import Compute

STEP_STOP = ["\n"]


@dataclass(frozen=True)
class Partial:
    """A completion under construction: the text written after the prompt so far."""

    text: str = ""
    tokens: int = 0  # policy tokens generated along this path
    done: bool = False  # answered, ended without a newline, or out of tokens
    logprob: float = 0.0  # log-prob of the latest step (closing + answer count as one)


def derive_seed(seed: int, *keys: object) -> int:
    """A sub-seed for one call of a search, so calls never reuse each other's samples.

    >>> derive_seed(0, "beam", 1) == derive_seed(0, "beam", 1) != derive_seed(0, "beam", 2)
    True
    """
    h = hashlib.sha256(repr((seed, *keys)).encode()).digest()
    return int.from_bytes(h[:4], "big")


def closes_thinking(step: str) -> bool:
    """Whether a newly written step ends the thinking (the answer comes next).

    >>> closes_thinking("</think>\\n"), closes_thinking("3 + 4 = 7\\n")
    (True, False)
    """
    return THINK_CLOSE in step


def sample_grouped(lm: LM, prompts: list[str], counts: list[int], limits: list[int],
                   budget: Budget, compute: Compute, seed: int, temperature: float,
                   stop: list[str] | None) -> list[list[Completion]]:
    """``counts[i]`` completions of ``prompts[i]``, charged to ``compute``. Equal prompts are
    sampled together in one request of ``n`` = their total count: seeded backends (and
    FunctionLM) return the same samples for the same prompt and seed, so duplicates
    (parallel chains from one prompt, equal beams) would otherwise get equal samples. At
    temperature 0 all copies share one sample, and only that one is charged."""
    assert all(k >= 1 for k in limits), "a prefix out of tokens must be marked done"
    groups: dict[tuple[str, int], list[int]] = {}
    for i, key in enumerate(zip(prompts, limits, strict=True)):
        if counts[i] > 0:
            groups.setdefault(key, []).append(i)
    out: list[list[Completion]] = [[] for _ in prompts]
    greedy = temperature == 0  # one greedy sample serves every copy of a prompt
    totals = {key: 1 if greedy else sum(counts[i] for i in idx) for key, idx in groups.items()}
    for k in sorted(set(totals.values())):  # LM.generate takes one n per call
        keys = [key for key, t in totals.items() if t == k]
        rows = lm.generate([p for p, _ in keys], n=k, max_tokens=[m for _, m in keys],
                           temperature=temperature, top_p=budget.top_p, stop=stop,
                           seed=derive_seed(seed, k))
        compute += policy_compute([c for row in rows for c in row])
        for key, row in zip(keys, rows, strict=True):
            for i in groups[key]:
                if greedy:
                    out[i] = row * counts[i]
                else:
                    out[i], row = row[: counts[i]], row[counts[i]:]
    return out


def _generate(lm: LM, prompt: str, parts: list[Partial], n: int | list[int], budget: Budget,
              compute: Compute, seed: int, temperature: float,
              stop: list[str] | None) -> list[list[Completion]]:
    counts = n if isinstance(n, list) else [n] * len(parts)
    return sample_grouped(lm, [prompt + p.text for p in parts], counts,
                          [budget.max_tokens - p.tokens for p in parts], budget, compute,
                          seed, temperature, stop)


def _grow(p: Partial, c: Completion, budget: Budget) -> Partial:
    tokens = p.tokens + c.tokens
    done = c.finish_reason != "stop" or tokens >= budget.max_tokens
    return Partial(p.text + c.text, tokens, done, c.logprob)


def finish(lm: LM, prompt: str, parts: list[Partial], budget: Budget, compute: Compute,
           seed: int, temperature: float) -> list[Partial]:
    """Complete every unfinished prefix to the end in one batched call (rollouts, the
    answer after a closing step, the final greedy completion of MCTS). Done prefixes are
    returned unchanged; ``logprob`` becomes that of the finishing text."""
    todo = [i for i, p in enumerate(parts) if not p.done]
    out = list(parts)
    if todo:
        rows = _generate(lm, prompt, [parts[i] for i in todo], 1, budget, compute, seed,
                         temperature, None)
        for i, [c] in zip(todo, rows, strict=True):
            out[i] = replace(_grow(parts[i], c, budget), done=True)
    return out


def extend(lm: LM, prompt: str, parts: list[Partial], n: int | list[int], budget: Budget,
           compute: Compute, seed: int, temperature: float | None = None,
           answer: bool = True) -> list[list[Partial]]:
    """``n`` (or ``n[i]``) one-step continuations of each unfinished prefix ``parts[i]``.

    ``temperature`` defaults to the budget's. A continuation that closes the thinking is
    finished in the same call of this function (or, with ``answer=False``, marked done
    without its answer: enough for a PRM, which scores thinking lines only), so callers
    only ever see either an unfinished prefix ending in a newline or a done one.
    """
    assert not any(p.done for p in parts)
    temp = budget.temperature if temperature is None else temperature
    rows = _generate(lm, prompt, parts, n, budget, compute, derive_seed(seed, "step"), temp,
                     STEP_STOP)
    out = [[_grow(p, c, budget) for c in row] for p, row in zip(parts, rows, strict=True)]
    closing = [(i, j) for i, row in enumerate(out) for j, p in enumerate(row)
               if not p.done and closes_thinking(p.text[len(parts[i].text):])]
    if closing and not answer:
        for i, j in closing:
            out[i][j] = replace(out[i][j], done=True)
    elif closing:
        done = finish(lm, prompt, [out[i][j] for i, j in closing], budget, compute,
                      derive_seed(seed, "answer"), temp)
        for (i, j), p in zip(closing, done, strict=True):
            out[i][j] = replace(p, logprob=out[i][j].logprob + p.logprob)
    return out


def sample_each(lm: LM, prompts: list[str], budget: Budget, compute: Compute, seed: int,
                max_tokens: int | list[int] | None = None, stop: list[str] | None = None,
                temperature: float | None = None) -> list[Completion]:
    """One completion for each entry of ``prompts`` (equal prompts get distinct samples),
    charged to ``compute``."""
    limits = max_tokens if isinstance(max_tokens, list) else \
        [budget.max_tokens if max_tokens is None else max_tokens] * len(prompts)
    temp = budget.temperature if temperature is None else temperature
    rows = sample_grouped(lm, prompts, [1] * len(prompts), limits, budget, compute, seed, temp,
                          stop)
    return [c for [c] in rows]
