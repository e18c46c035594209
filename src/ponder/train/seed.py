"""A weak SFT seed: a fresh model fit to a *few* teacher traces per task family.

STaR and RL are meant to improve a model that can sometimes solve a problem, not one
that already imitates the teacher perfectly (there would be nothing left to learn, and
no failures to learn from). The seed is trained from scratch on ``per_family`` TRAIN
problems per task (200 by default) — the role the paper's few-shot prompt plays for a
pretrained LM. How weak is weak enough is measured, not assumed: RL needs samples that
sometimes succeed and sometimes fail on the same problem (pass@k well above pass@1);
recipes/learning/01_seed.sh records the sizes that gave such a seed.

A share of the seed problems (``hint_fraction``) is repeated with the STaR hint prompt
(``ponder.train.star.hint_question``), so the seed has seen the hint format and
rationalization can work; hinted prompts never appear at evaluation time.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ponder.errors import ConfigError
from ponder.lm.base import LM
from ponder.lm.model import PRESETS
from ponder.lm.template import format_completion, prompt_for
from ponder.lm.tokenizer import CharTokenizer
from ponder.tasks.base import Task
from ponder.train.data import Example, task_example
from ponder.train.loop import TrainConfig, TrainResult
from ponder.train.policy import NativePolicy, TrainablePolicy, open_policy
from ponder.train.rollout import evaluate as heldout_accuracy
from ponder.train.sft import build_model, finetune_policy
from ponder.train.star import hint_question


@dataclass
class SeedConfig:
    """per_family: TRAIN problems per task; difficulty: levels (None: all);
    hint_fraction: share of them also given with the answer as a hint;
    style: teacher trace style (None: each task's default);
    init: a model to continue from instead of a fresh ``preset`` model: a ponder
    checkpoint (continued SFT on teacher traces: the baseline RL and STaR are compared
    with) or ``hf:DIR``, a transformers model given a "cold start" on the traces in its
    own prompt layout before STaR or RL (as DeepSeek-R1 starts RL from a little SFT)."""

    per_family: int = 200
    difficulty: list[int] | None = None
    hint_fraction: float = 0.25
    style: str | None = None
    preset: str = "small"
    max_seq_len: int = 1024
    eval_n: int = 64  # TEST problems per task, at the seed's levels
    init: str | None = None

    def __post_init__(self) -> None:
        if self.per_family < 1:
            raise ConfigError(f"per_family must be >= 1, got {self.per_family}")
        if not 0.0 <= self.hint_fraction <= 1.0:
            raise ConfigError(f"hint_fraction must be in [0, 1], got {self.hint_fraction}")
        if self.preset not in PRESETS:
            raise ConfigError(f"unknown preset {self.preset!r}; choose one of {list(PRESETS)}")


def seed_examples(tasks: Sequence[Task], per_family: int = 200, seed: int = 0,
                  difficulty: list[int] | None = None, hint_fraction: float = 0.25,
                  style: str | None = None, lm: LM | None = None) -> list[Example]:
    """Teacher examples of ``per_family`` TRAIN problems per task, plus hinted copies of
    a ``hint_fraction`` share of them, prompts in ``lm``'s layout (None: ponder's raw
    one); deterministic in ``seed``."""
    rng = random.Random(f"seed-examples:{seed}")
    out: list[Example] = []
    for task in tasks:
        for p in task.problems("train", per_family, seed=seed, difficulty=difficulty):
            ex = task_example(task, p, style, lm)
            out.append(ex)
            if rng.random() < hint_fraction:
                trace = task.teacher_trace(p, style)
                out.append(Example(prompt_for(lm, hint_question(p.prompt, p.answer)),
                                   format_completion(trace)))
    return out


def train_seed(tasks: Sequence[Task], cfg: SeedConfig, train: TrainConfig,
               out: str | Path | None = None, *, resume: bool = False,
               progress: bool = True) -> tuple[TrainablePolicy, TrainResult]:
    """Train the weak seed (from scratch, or from ``cfg.init``); its checkpoint goes to
    ``out/checkpoint``."""
    if cfg.init is not None:
        policy, path = open_policy(cfg.init)
        if not cfg.init.strip().startswith("hf:"):
            cfg.init = path  # recorded as the checkpoint itself, not the run around it
    else:
        tok = CharTokenizer()
        policy: TrainablePolicy = NativePolicy(build_model(cfg.preset, tok, seed=train.seed,
                                          max_seq_len=cfg.max_seq_len), tok)
    examples = seed_examples(tasks, cfg.per_family, train.seed, cfg.difficulty,
                             cfg.hint_fraction, cfg.style, policy.lm())

    def evaluate(model: Any, step: int) -> dict[str, Any]:
        acc, by_task = heldout_accuracy(policy.lm(), tasks, cfg.eval_n, train.seed,
                                        cfg.difficulty)
        return {"accuracy": round(acc, 4),
                **{f"accuracy_{k}": round(v, 4) for k, v in by_task.items()}}

    meta: dict[str, Any] = {"trainer": "seed", "seed_config": asdict(cfg),
                            "tasks": [t.name for t in tasks], "model": policy.describe(),
                            "examples": len(examples)}
    result = finetune_policy(policy, examples, train, out, resume=resume,
                             evaluate=evaluate if cfg.eval_n else None,
                             meta=meta, progress=progress)
    policy.module.eval()
    return policy, result
