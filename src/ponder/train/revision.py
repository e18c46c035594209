"""Training a revision model (Snell et al. 2024, §6.1): the model learns to write a right
attempt after seeing its own wrong ones, for the ``revise`` strategy.

Recipe, following the paper on our scale:

1. sample ``samples`` attempts per TRAIN problem from the policy at temperature
   ``temperature``; the task's verifier splits them into right and wrong (attempts cut
   off by the length cap are neither: they have no answer to show);
2. for each problem with at least one right and one wrong attempt, build
   ``trajectories`` examples: 1..``max_previous`` distinct wrong attempts, then a right
   one. The paper orders the context so the last wrong attempt is the one closest to the
   right answer (by edit distance), so the model learns a correction rather than an
   unrelated restart; we do the same with a character-level similarity;
3. a share ``plain_fraction`` of examples are plain first attempts (the right attempt
   after no context), so revising does not cost first-attempt skill;
4. fine-tune the policy on these (prompt, completion) pairs: the prompt is exactly what
   ``ponder.think.revise.revision_prompt`` builds at test time, and the completion is the
   right attempt's text.

``revision_examples`` is a pure function of the sampled attempts (tested without a
model); ``collect_attempts`` does the sampling and ``train_revision`` the whole run.
"""

from __future__ import annotations

import difflib
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ponder.errors import ConfigError, check_at_least
from ponder.lm.base import LM
from ponder.lm.template import prompt_for
from ponder.tasks.base import Problem, Task
from ponder.think.revise import ATTEMPT_HEADER, revision_prompt
from ponder.train.data import Example
from ponder.train.loop import TrainConfig, TrainResult
from ponder.train.policy import TrainablePolicy
from ponder.train.rewards import Verifier, task_verifier, verifier_reward
from ponder.train.rollout import caps_for, generate_batched
from ponder.train.sft import finetune_policy


@dataclass
class RevisionConfig:
    """problems: TRAIN problems per task. samples: attempts per problem.
    max_previous: most wrong attempts shown before the right one (the paper: 4).
    trajectories: examples built per usable problem. plain_fraction: share of plain
    first-attempt examples added. token_slack: attempt cap = slack x the longest teacher
    trace at the level."""

    problems: int = 256
    difficulty: list[int] | None = None
    samples: int = 8
    temperature: float = 0.8
    max_previous: int = 4
    trajectories: int = 2
    plain_fraction: float = 0.25
    token_slack: float = 1.5
    batch_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        check_at_least(self, ("problems", "samples", "max_previous", "trajectories", "batch_size"),
                       1, "revision")
        if not 0 <= self.plain_fraction < 1:
            raise ConfigError(f"revision: plain_fraction must be in [0, 1), got "
                              f"{self.plain_fraction}")
        if self.temperature <= 0:
            raise ConfigError("revision: temperature must be > 0 (attempts must differ)")


@dataclass
class Attempts:
    """One problem's sampled attempts, split by the verifier (duplicates removed)."""

    problem: Problem
    right: list[str]
    wrong: list[str]


def split_attempts(problems: Sequence[Problem], texts: Sequence[Sequence[str]],
                   finished: Sequence[Sequence[bool]], verify: Verifier) -> list[Attempts]:
    """Right and wrong attempts per problem; unfinished attempts are dropped."""
    out = []
    for problem, row, done in zip(problems, texts, finished, strict=True):
        scores = verifier_reward([problem] * len(row), list(row), verify)
        right: list[str] = []
        wrong: list[str] = []
        for text, ok, s in zip(row, done, scores, strict=True):
            if not ok:
                continue
            bucket = right if s is not None and s >= 1.0 else wrong
            if text not in bucket:
                bucket.append(text)
        out.append(Attempts(problem, right, wrong))
    return out


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def revision_examples(attempts: Sequence[Attempts], cfg: RevisionConfig,
                      lm: LM | None = None) -> list[Example]:
    """Training pairs from split attempts (see the module notes), prompts in ``lm``'s
    layout (None: ponder's raw one); deterministic in ``cfg.seed``."""
    rng = random.Random(cfg.seed)
    revisions: list[Example] = []
    plain: list[Example] = []
    for a in attempts:
        if a.right:
            plain.append(Example(prompt_for(lm, a.problem.prompt), rng.choice(a.right)))
        if not (a.right and a.wrong):
            continue
        for _ in range(cfg.trajectories):
            target = rng.choice(a.right)
            k = rng.randint(1, min(cfg.max_previous, len(a.wrong)))
            shown = rng.sample(a.wrong, k)
            shown.sort(key=lambda w: _similarity(w, target))  # closest one last
            revisions.append(Example(revision_prompt(a.problem.prompt, shown, lm), target))
    n_plain = round(len(revisions) * cfg.plain_fraction / (1 - cfg.plain_fraction))
    rng.shuffle(plain)
    return revisions + plain[:n_plain]


def collect_attempts(lm: LM, tasks: Sequence[Task], cfg: RevisionConfig) -> list[Attempts]:
    """Sample ``cfg.samples`` attempts per TRAIN problem and split them."""
    problems = [p for t in tasks for p in t.problems("train", cfg.problems, seed=cfg.seed,
                                                     difficulty=cfg.difficulty)]
    caps = caps_for(lm, tasks, problems, cfg.token_slack, cfg.seed)
    rows = generate_batched(lm, [prompt_for(lm, p.prompt) for p in problems], cfg.samples,
                            caps, cfg.temperature, cfg.seed, cfg.batch_size)
    return split_attempts(problems, [[c.text for c in row] for row in rows],
                          [[c.finish_reason != "length" for c in row] for row in rows],
                          task_verifier(tasks))


def attempt_stats(attempts: Sequence[Attempts]) -> dict[str, Any]:
    n = len(attempts)
    return {"problems": n,
            "with_right": sum(bool(a.right) for a in attempts),
            "with_right_and_wrong": sum(bool(a.right and a.wrong) for a in attempts),
            "right_attempts": sum(len(a.right) for a in attempts),
            "wrong_attempts": sum(len(a.wrong) for a in attempts)}


def train_revision(policy: TrainablePolicy, tasks: Sequence[Task], cfg: RevisionConfig,
                   train: TrainConfig, out: str | Path, progress: bool = True,
                   epochs: float | None = None) -> tuple[TrainResult, dict[str, Any]]:
    """Collect attempts with the policy, build revision examples in its prompt layout
    and fine-tune it in place (the built-in model or a transformers one,
    ``ponder.train.policy``); the model goes to ``out/checkpoint``.
    ``epochs`` (if given) sets the step budget from the number of examples collected,
    which is not known in advance: a fixed budget overfits a small collection."""
    lm = policy.lm()
    attempts = collect_attempts(lm, tasks, cfg)
    examples = revision_examples(attempts, cfg, lm)
    stats = {**attempt_stats(attempts), "examples": len(examples),
             "revision_examples": sum(ATTEMPT_HEADER in e.prompt for e in examples)}
    if not stats["revision_examples"]:
        raise ConfigError("no problem had both a right and a wrong attempt: the policy is "
                          "either always right or never right at these levels; choose "
                          "other --difficulty levels or more --samples")
    if epochs is not None:
        if epochs <= 0:
            raise ConfigError(f"revision: epochs must be > 0, got {epochs}")
        steps = max(1, math.ceil(epochs * len(examples) / train.batch_size))
        train = replace(train, steps=steps, warmup_steps=min(train.warmup_steps, steps))
    stats["steps"] = train.steps
    result = finetune_policy(policy, examples, train, out, progress=progress,
                             meta={"revision": asdict(cfg), "collected": stats})
    return result, stats
