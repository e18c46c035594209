"""Rollouts: sample completions of train problems, and lay them out for a loss.

What every self-improvement trainer (RL, STaR, expert iteration, distillation) shares:

- sampling goes through the LM protocol only (``generate_batched``, ``rollout``), so any
  backend can produce the data; ``native_lm`` wraps the model being trained, ``caps_for``
  sets per-level generation caps and ``evaluate`` measures held-out greedy accuracy;
- ``TokenBatch`` holds (prompt, completion) token ids as a ``TrainablePolicy``
  (``ponder.train.policy``) encodes them — a finished completion ends with the
  end-of-sequence token, so the policy is also taught when to stop — and
  ``sampled_logprobs`` lays out the sampler's own log-probs over them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ponder.errors import ConfigError, InvalidInput
from ponder.eval.accuracy import evaluate_tasks, mean_accuracy, token_budgets
from ponder.lm.base import LM, Completion
from ponder.lm.model import Transformer
from ponder.lm.template import prompt_for
from ponder.lm.tokenizer import CharTokenizer
from ponder.tasks.base import Problem, Task

#: (model, tokenizer) -> an LM that samples from the model
LMFactory = Callable[[Transformer, CharTokenizer], LM]


def native_lm(model: Transformer, tok: CharTokenizer) -> LM:
    """The built-in model behind the LM protocol; it follows the model's weight updates."""
    from ponder.lm.native import NativeLM

    return NativeLM(model, tok)


def caps_for(lm: LM, tasks: Sequence[Task], problems: Sequence[Problem], slack: float,
             seed: int) -> list[int]:
    """Generation cap of each problem: ``slack`` x the teacher's longest trace at its
    level (``eval.accuracy.token_budgets``)."""
    caps = {t.name: token_budgets(t, lm, seed=seed, slack=slack) for t in tasks}
    return [caps[p.task][p.difficulty] for p in problems]


def evaluate(lm: LM, tasks: Sequence[Task], n: int, seed: int,
             difficulty: list[int] | None = None) -> tuple[float, dict[str, float]]:
    """Greedy held-out TEST accuracy on ``n`` problems per task at the given levels (None:
    all): the mean over tasks, and each task's."""
    reports = evaluate_tasks(lm, tasks, n, seed=seed, difficulty=difficulty)
    return mean_accuracy(reports), {k: r.accuracy for k, r in reports.items()}


def generate_batched(lm: LM, prompts: Sequence[str], n: int, max_tokens: int | Sequence[int],
                     temperature: float, seed: int = 0, batch_size: int = 64,
                     top_p: float = 1.0) -> list[list[Completion]]:
    """``lm.generate`` over ``prompts`` in chunks of ``batch_size`` prompts (each with
    ``n`` samples), so memory stays bounded; per-prompt ``max_tokens`` allowed."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    limits = [max_tokens] * len(prompts) if isinstance(max_tokens, int) else list(max_tokens)
    if len(limits) != len(prompts):
        raise InvalidInput("max_tokens needs one limit per prompt")
    out: list[list[Completion]] = []
    for i in range(0, len(prompts), batch_size):
        chunk = list(prompts[i : i + batch_size])
        out.extend(lm.generate(chunk, n=n, max_tokens=limits[i : i + batch_size],
                               temperature=temperature, top_p=top_p, seed=seed + i))
    return out


@dataclass
class Rollout:
    """G sampled completions for each of P problems, flattened group by group:
    completion ``k`` belongs to problem ``k // group``."""

    problems: list[Problem]
    prompts: list[str]  # one per completion (the group's prompt repeated)
    completions: list[Completion]
    group: int

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.completions]

    @property
    def finished(self) -> list[bool]:
        """Whether each completion ended on its own (not cut off by ``max_tokens``)."""
        return [c.finish_reason != "length" for c in self.completions]

    def per_completion(self) -> list[Problem]:
        return [p for p in self.problems for _ in range(self.group)]


def rollout(lm: LM, problems: Sequence[Problem], group: int, max_tokens: int | Sequence[int],
            temperature: float = 1.0, seed: int = 0, batch_size: int = 64) -> Rollout:
    """Sample ``group`` completions of each problem's thinking prompt, in ``lm``'s own
    layout (``prompt_for``), which the Rollout keeps (``max_tokens``: one cap, or one per
    problem)."""
    if group < 1:
        raise ConfigError(f"group must be >= 1, got {group}")
    prompts = [prompt_for(lm, p.prompt) for p in problems]
    outs = generate_batched(lm, prompts, group, max_tokens, temperature, seed, batch_size)
    flat = [c for row in outs for c in row]
    assert all(len(row) == group for row in outs), "the LM returned the wrong sample count"
    return Rollout(list(problems), [p for p in prompts for _ in range(group)], flat, group)


@dataclass
class TokenBatch:
    """Token ids of (prompt, completion) pairs: prompts start with ``<bos>``; a
    completion that ended by itself ends with ``<eos>``, so the policy is also taught
    (or discouraged) when to stop."""

    prompts: list[list[int]]
    completions: list[list[int]]

    def select(self, rows: Sequence[int]) -> TokenBatch:
        return TokenBatch([self.prompts[i] for i in rows], [self.completions[i] for i in rows])

    @property
    def lengths(self) -> list[int]:
        return [len(c) for c in self.completions]

    @property
    def n_tokens(self) -> int:
        """Tokens the model processes (padding excluded)."""
        return sum(len(p) + len(c) for p, c in zip(self.prompts, self.completions,
                                                    strict=True))

    @property
    def pad_share(self) -> float:
        """Share of the padded (B, T) positions that are padding."""
        T = max((len(p) + len(c) for p, c in zip(self.prompts, self.completions,
                                                 strict=True)), default=0)
        return 1.0 - self.n_tokens / max(T * len(self.prompts), 1)


def sampled_logprobs(completions: Sequence[Completion], batch: TokenBatch
                     ) -> torch.Tensor | None:
    """The sampler's own per-token log-probs as a (B, C) tensor — the "old" policy of a
    PPO ratio — or None when some completion lacks them or its tokens were re-encoded
    differently (a stop string cut, a truncation), and they must be recomputed."""
    C = max(batch.lengths, default=0)
    out = torch.zeros((len(completions), C))
    for b, (c, ids) in enumerate(zip(completions, batch.completions, strict=True)):
        if c.token_logprobs is None or len(c.token_logprobs) != len(ids):
            return None
        out[b, : len(ids)] = torch.tensor(c.token_logprobs)
    return out
