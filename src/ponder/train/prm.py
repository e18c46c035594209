"""Training outcome and process reward models on the policy's own samples.

Data (Lightman et al. 2023; Wang et al. 2024, Math-Shepherd):
1. sample several completions per TRAIN problem from the policy at temperature 1;
2. label each step either
   - ``exact``: the task's step checker — a step is positive while every step so far is
     correct (the PRM800K convention: everything after the first error is negative), and
     the answer line is positive only when the final answer verifies; or
   - ``mc`` (Math-Shepherd): from the prefix ending at that step, sample ``k`` completions
     with the policy; the soft label is the fraction that reach the right answer. This
     needs no step checker, only the final-answer verifier;
3. fit the reward model (policy weights + a zero-initialised scalar head) with binary
   cross-entropy at the step positions (PRM) or the last token (ORM).

Departure: Math-Shepherd uses hard (any-correct) or soft labels from a fixed completer;
we use the soft label from the policy itself, which is also what we search with.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from ponder.errors import ConfigError
from ponder.lm.base import LM
from ponder.lm.reward import CharEncoder, RewardConfig, RewardModel, RewardScorer
from ponder.lm.sampling import pad_right
from ponder.lm.template import THINK_CLOSE, prompt_for, split_thinking
from ponder.tasks import get_task
from ponder.tasks.base import Problem, Task
from ponder.train.core import apply_step, lr_factor, make_optimizer, set_lr, step_progress
from ponder.train.policy import NativePolicy, TrainablePolicy, decay_groups

LABELS = ("exact", "mc")


@dataclass
class Sample:
    """One policy completion of one problem, with a label per step (see step_spans)."""

    problem: Problem
    completion: str
    labels: list[float] = field(default_factory=list)
    outcome: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"problem": self.problem.to_dict(), "completion": self.completion,
                "labels": self.labels, "outcome": self.outcome}


def sample_policy(lm: LM, problems: list[Problem], samples_per_problem: int, max_tokens: int,
                  temperature: float = 1.0, seed: int = 0) -> list[Sample]:
    """The policy's own completions: what the reward model will have to judge in search."""
    prompts = [prompt_for(lm, p.prompt) for p in problems]
    outs = lm.generate(prompts, n=samples_per_problem, max_tokens=max_tokens,
                       temperature=temperature, seed=seed)
    return [Sample(p, c.text) for p, row in zip(problems, outs, strict=True) for c in row]


def _thinking_lines(completion: str) -> list[str]:
    # split on "\n" only, as step_spans does, so labels line up with the head's
    # positions (str.splitlines would also split on "\r" and the like)
    thinking, _ = split_thinking(completion)
    return [s for s in thinking.split("\n") if s.strip()]


def exact_labels(task: Task, problem: Problem, completion: str) -> tuple[list[float], float]:
    """(per-step labels, outcome) from the task's exact step checker and verifier."""
    lines = _thinking_lines(completion)
    ok = task.check_steps(problem, lines) if lines else []
    labels, good = [], True
    for flag in ok:
        good = good and bool(flag)
        labels.append(float(good))
    outcome = float((task.verify(problem, completion) or 0.0) >= 1.0)
    if THINK_CLOSE in completion and split_thinking(completion)[1]:
        labels.append(float(good and outcome == 1.0))
    return labels, outcome


def mc_labels(lm: LM, samples: list[Sample], k: int, max_tokens: int, seed: int = 0,
              resolve: Callable[[str], Task] = get_task) -> None:
    """Math-Shepherd labels, in place: for each step prefix of each sample, the fraction
    of ``k`` policy continuations that reach a verified answer. One batched generate."""
    prompts, prefixes, where = [], [], []
    for si, s in enumerate(samples):
        lines = _thinking_lines(s.completion)
        head = prompt_for(lm, s.problem.prompt)
        for li in range(len(lines)):
            prefix = "".join(f"{line}\n" for line in lines[: li + 1])
            prompts.append(head + prefix)
            prefixes.append(prefix)
            where.append(si)
    outs = lm.generate(prompts, n=k, max_tokens=max_tokens, temperature=1.0, seed=seed) \
        if prompts else []
    per_sample: dict[int, list[float]] = {}
    for si, prefix, row in zip(where, prefixes, outs, strict=True):
        s = samples[si]
        task = resolve(s.problem.task)
        hits = [(task.verify(s.problem, prefix + c.text) or 0.0) >= 1.0 for c in row]
        per_sample.setdefault(si, []).append(sum(hits) / len(hits))
    for si, s in enumerate(samples):
        task = resolve(s.problem.task)
        s.outcome = float((task.verify(s.problem, s.completion) or 0.0) >= 1.0)
        s.labels = per_sample.get(si, [])
        if THINK_CLOSE in s.completion and split_thinking(s.completion)[1]:
            s.labels.append(s.outcome)


def label_exact(samples: list[Sample], resolve: Callable[[str], Task] = get_task) -> None:
    for s in samples:
        s.labels, s.outcome = exact_labels(resolve(s.problem.task), s.problem, s.completion)


def reward_model_loss(logits: torch.Tensor, positions: list[list[int]],
                      targets: list[list[float]]) -> torch.Tensor:
    """Mean binary cross-entropy of the head's logits (B, T) at each row's positions
    against soft targets in [0, 1]."""
    rows = torch.cat([torch.full((len(p),), r, dtype=torch.long)
                      for r, p in enumerate(positions)])
    cols = torch.tensor([c for p in positions for c in p], dtype=torch.long)
    y = torch.tensor([t for ts in targets for t in ts], dtype=logits.dtype)
    return F.binary_cross_entropy_with_logits(logits[rows, cols], y)


@dataclass
class RewardTrainConfig:
    kind: str = "prm"  # prm | orm
    steps: int = 300
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        RewardConfig(self.kind)  # validates kind
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError("steps and batch_size must be >= 1")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.warmup < 0 or self.weight_decay < 0:
            raise ConfigError(f"warmup and weight_decay must be >= 0, got {self.warmup} "
                              f"and {self.weight_decay}")


def _batch(encode: Any, layout: LM | None, samples: list[Sample], kind: str):
    enc, targets = [], []
    for s in samples:
        ids, pos = encode(prompt_for(layout, s.problem.prompt), s.completion, kind)
        labels = [s.outcome] if kind == "orm" else s.labels
        n = min(len(pos), len(labels))  # guard: an empty thinking line has no label
        enc.append((ids, pos[:n]))
        targets.append(labels[:n])
    idx, mask = pad_right([ids for ids, _ in enc], encode.pad_id)
    return idx, mask, [p for _, p in enc], targets


def train_reward_model(policy: TrainablePolicy, samples: list[Sample], cfg: RewardTrainConfig,
                       log: Callable[[dict[str, Any]], None] | None = None,
                       ) -> RewardScorer:
    """Fit a reward model initialised from ``policy`` (the built-in model or a
    transformers one) on labelled samples, prompts in the policy's layout; returns it as
    a scorer (``.model``, ``.encode``). ``log`` gets each step's loss, learning rate and
    elapsed seconds."""
    usable = [s for s in samples if (s.labels if cfg.kind == "prm" else True)]
    if not usable:
        raise ConfigError("no labelled samples to train the reward model on")
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    layout = policy.lm()
    if isinstance(policy, NativePolicy):
        model: Any = RewardModel.from_policy(policy.model, RewardConfig(cfg.kind))
        encode: Any = CharEncoder(policy.tok)
    else:
        from ponder.lm.hf_reward import hf_reward_from_policy

        model, encode = hf_reward_from_policy(policy, cfg.kind)
    model.train()
    opt = make_optimizer(decay_groups(model, cfg.weight_decay), cfg.lr)
    t0 = time.perf_counter()
    for step in range(cfg.steps):
        lr = cfg.lr * lr_factor(step, step_progress(step, cfg.steps, cfg.warmup), cfg.warmup,
                                0.0)
        set_lr(opt, lr)
        batch = rng.sample(usable, min(cfg.batch_size, len(usable)))
        idx, mask, positions, targets = _batch(encode, layout, batch, cfg.kind)
        loss = reward_model_loss(model.logits(idx, mask).float().cpu(), positions, targets)
        loss.backward()
        apply_step(model.parameters(), opt, 1.0)
        if log is not None:
            log({"step": step + 1, "loss": loss.item(), "lr": lr,
                 "elapsed": time.perf_counter() - t0})
    return RewardScorer(model.eval(), encode)


def step_accuracy(scorer: RewardScorer, samples: list[Sample],
                  layout: LM | None = None) -> dict[str, float]:
    """Agreement of thresholded scores (0.5) with exact labels on held-out samples:
    per step, and on the first-error position (the step where the label turns 0);
    prompts in ``layout``'s form (the policy the reward model was trained from)."""
    prompts = [prompt_for(layout, s.problem.prompt) for s in samples]
    scores = scorer.score_steps(prompts, [s.completion for s in samples])
    right = total = 0
    outcome_right = 0
    for s, sc in zip(samples, scores, strict=True):
        for p, y in zip(sc, s.labels, strict=False):
            right += int((p > 0.5) == (y > 0.5))
            total += 1
        if sc:
            outcome_right += int((sc[-1] > 0.5) == (s.outcome > 0.5))
    pos_rate = sum(y > 0.5 for s in samples for y in s.labels) / max(total, 1)
    return {"step_accuracy": right / max(total, 1), "steps": total,
            "majority_baseline": max(pos_rate, 1 - pos_rate),
            "outcome_accuracy": outcome_right / max(len(samples), 1),
            "samples": len(samples)}
