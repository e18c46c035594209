"""Distillation: a smaller student learns from a larger reasoner's verified traces
(the o1-mini idea; in the sense of DeepSeek-R1's distilled models, which are SFT on
the large model's reasoning traces rather than logit matching).

1. the teacher (any backend, through the LM protocol) samples chains of thought for
   TRAIN problems; only traces whose answer verifies and that stopped by themselves
   are kept (``star.collect_rationales`` without rationalization);
2. a fresh student of a smaller preset, or a given model (a ponder checkpoint or any
   transformers causal LM, ``--init hf:PATH``), is fine-tuned on them, each trace put
   in the student's own prompt layout (its chat template for an instruct model);
3. both are evaluated greedily on the same TEST problems, and each answer is priced in
   forward FLOPs: ``flops_per_token x (prompt + generated tokens)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ponder.errors import ConfigError, check_at_least
from ponder.eval.accuracy import evaluate_tasks, mean_accuracy
from ponder.lm.base import LM
from ponder.lm.model import PRESETS
from ponder.lm.template import prompt_for
from ponder.lm.tokenizer import CharTokenizer
from ponder.tasks.base import Task
from ponder.train.loop import TrainConfig
from ponder.train.policy import NativePolicy, TrainablePolicy
from ponder.train.rewards import task_verifier
from ponder.train.rollout import LMFactory, caps_for
from ponder.train.sft import build_model, finetune_policy
from ponder.train.star import collect_rationales


@dataclass
class DistillConfig:
    """preset: student size; problems / difficulty: TRAIN problems per task the teacher
    solves; samples / temperature / keep_per_problem: teacher sampling; eval_n: TEST
    problems per task for both models."""

    preset: str = "tiny"
    problems: int = 1000
    difficulty: list[int] | None = None
    samples: int = 2
    temperature: float = 0.7
    keep_per_problem: int = 1
    token_slack: float = 1.5
    max_seq_len: int = 1024
    eval_n: int = 64
    batch_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ConfigError(f"unknown preset {self.preset!r}; choose one of {list(PRESETS)}")
        check_at_least(self, ("problems", "samples", "keep_per_problem", "eval_n"), 1, "distill")


def answer_cost(lm: LM, tasks: Sequence[Task], n: int, seed: int,
                difficulty: list[int] | None = None) -> dict[str, Any]:
    """Greedy TEST accuracy of ``lm`` and what one answer costs it, on average."""
    reports = evaluate_tasks(lm, tasks, n, seed=seed, difficulty=difficulty)
    prompt_tokens = [lm.count_tokens(prompt_for(lm, p.prompt)) + 1  # + bos
                     for t in tasks
                     for p in t.problems("test", n, seed=seed, difficulty=difficulty)]
    gen = sum(r.mean_tokens * r.n for r in reports.values()) / max(
        sum(r.n for r in reports.values()), 1)
    prompt = sum(prompt_tokens) / max(len(prompt_tokens), 1)
    return {"accuracy": mean_accuracy(reports),
            "by_task": {k: r.accuracy for k, r in reports.items()},
            "generated_tokens": gen, "prompt_tokens": prompt,
            "flops_per_token": lm.flops_per_token,
            "flops_per_answer": lm.flops_per_token * (prompt + gen)}


def teacher_examples(teacher: LM, student: TrainablePolicy, tasks: Sequence[Task],
                     cfg: DistillConfig) -> tuple[list, dict[str, Any]]:
    """The teacher's verified TRAIN traces in the student's prompt layout, those its
    tokenizer can encode (a character tokenizer knows a fixed alphabet)."""
    problems = [p for t in tasks for p in t.problems("train", cfg.problems, seed=cfg.seed,
                                                     difficulty=cfg.difficulty)]
    caps = caps_for(teacher, tasks, problems, cfg.token_slack, cfg.seed)
    got = collect_rationales(teacher, problems, task_verifier(tasks), caps,
                             samples=cfg.samples, temperature=cfg.temperature,
                             rationalize=False, keep_per_problem=cfg.keep_per_problem,
                             seed=cfg.seed, batch_size=cfg.batch_size)
    examples = [k.example(student.lm()) for k in got.kept]
    tok = student.tok if isinstance(student, NativePolicy) else None
    usable = [e for e in examples
              if tok is None or not tok.unknown_chars(e.prompt + e.completion)]
    return usable, {**got.stats(), "unencodable": len(examples) - len(usable)}


def run_distill(teacher: LM, tasks: Sequence[Task], cfg: DistillConfig, train: TrainConfig,
                out: str | Path, *, student: TrainablePolicy | None = None,
                lm_factory: LMFactory | None = None, resume: bool = False,
                progress: bool = True) -> dict[str, Any]:
    """Distil ``teacher`` into ``student`` (default: a fresh ``cfg.preset`` model) and
    compare them; the student is saved under ``out/checkpoint``. ``lm_factory`` stands
    in for a built-in student's sampler in the final evaluation."""
    if student is None:
        tok = CharTokenizer()
        student = NativePolicy(build_model(cfg.preset, tok, seed=train.seed,
                                           max_seq_len=cfg.max_seq_len), tok)
    examples, data_stats = teacher_examples(teacher, student, tasks, cfg)
    if not examples:
        raise ConfigError("the teacher solved none of the train problems; nothing to distil "
                          "(try easier --difficulty or more --samples)")
    finetune_policy(student, examples, train, out, resume=resume, progress=progress,
                    meta={"trainer": "distill", "distill": asdict(cfg), "teacher": teacher.name,
                          "model": student.describe()})
    student.module.eval()
    lm = (lm_factory(student.model, student.tok)
          if lm_factory is not None and isinstance(student, NativePolicy) else student.lm())
    return {"data": data_stats,
            "teacher": {"name": teacher.name,
                        **answer_cost(teacher, tasks, cfg.eval_n, cfg.seed, cfg.difficulty)},
            "student": {"params": sum(p.numel() for p in student.module.parameters()),
                        **answer_cost(lm, tasks, cfg.eval_n, cfg.seed, cfg.difficulty)}}
