"""Quiet-STaR training on text in which reasoning is not written out (§4, Algorithm 1).

The paper continues pretraining on web and math text. Here the text is the task
families' ``direct`` style — a problem followed at once by its answer — drawn from TRAIN
problems only (``ponder.train.data.TaskMixture`` with every example direct); every
token of it is a language-modelling target, as in ordinary text.

Modes: ``quiet`` (Quiet-STaR), ``pause`` (the same, with filler thoughts — Goyal et al.
2023's pause tokens — so only the mixing head and the pause embedding learn to use the
extra compute), ``plain`` (next-token training on the same text, no thoughts: the
control). ``max_flops`` stops a run at a training-compute budget, so a control can be
matched to a Quiet-STaR run's FLOPs (forward ≈ flops_per_token per token run through
the model, backward twice that).

Optimizer groups (AdamW): the base model at ``lr``, the meta-token embeddings at
``lr * meta_lr_mult`` (the paper's larger embedding learning rate; 100 as in its code),
the mixing head at ``lr * mixer_lr_mult`` (1, as the reference). Even so, on the
bundled reasoner the head turns thoughts off (weight 0.05 -> 0.005 in 300 steps,
``reports/quiet_star_train_quiet.json``), where its sigmoid passes little gradient and
every thought earns the same reward; a larger multiplier only gets there sooner.

The loop is its own rather than ``ponder.train.loop``'s core: that core trains on
(prompt, completion) batches with a loss mask, while a Quiet-STaR step needs the whole
rollout → reward → loss chain; it keeps the same habits (seeded, indexable data, progress
lines with tokens/s and ETA, a metrics JSONL) and uses the training core's run
directory: atomic checkpoint + state saved by time, refused or resumed like any run.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ponder.errors import ConfigError
from ponder.files import atomic_write_text
from ponder.quietstar.model import QuietStar, ThoughtConfig, save_quietstar
from ponder.quietstar.objective import (
    LossConfig,
    StepResult,
    plain_loss,
    quiet_star_loss,
    step_tokens,
)
from ponder.tasks.base import Task
from ponder.train.core import Saver, apply_step, lr_factor, open_run, step_progress
from ponder.train.data import DIRECT, Example, MixtureConfig, TaskMixture, encode_example
from ponder.train.state import append_metrics

MODES = ("quiet", "pause", "plain")
TARGETS = ("text", "answer")


@dataclass
class TrainConfig:
    """steps: optimizer steps (a run may stop earlier at ``max_flops`` / ``max_seconds``).
    batch_size: texts per step. lr: base learning rate (linear warmup over
    ``warmup_steps``, then cosine decay to 10%). grad_clip: max global gradient norm.
    log_every: steps between progress lines and metric records.
    targets: ``text`` scores every token (the paper); ``answer`` scores only the
    answer tokens (departure: in this text the question is random digits no thought can
    predict, so their loss is noise — and a model fine-tuned on completions only has
    never learnt them; thoughts are still sampled at every position)."""

    mode: str = "quiet"
    steps: int = 200
    batch_size: int = 16
    lr: float = 3e-4
    meta_lr_mult: float = 100.0
    mixer_lr_mult: float = 1.0
    warmup_steps: int = 10
    grad_clip: float = 1.0
    max_flops: float | None = None
    max_seconds: float | None = None
    log_every: int = 10
    seed: int = 0
    max_level: int | None = None  # text of problems up to this level (None: every level)
    targets: str = "text"
    save_minutes: float = 2.0  # checkpoint + state at least this often (0: at the end only)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.targets not in TARGETS:
            raise ConfigError(f"targets must be one of {TARGETS}, got {self.targets!r}")
        if self.steps < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError("steps, batch_size and lr must be positive")


def direct_text(tasks: Sequence[Task], seed: int, max_level: int | None = None,
                ) -> TaskMixture:
    """The endless stream of TRAIN problems (up to ``max_level``) followed directly by
    their answers."""
    missing = [t.name for t in tasks if DIRECT not in t.styles]
    if missing:
        raise ConfigError(f"Quiet-STaR trains on direct-answer text; {', '.join(missing)} "
                          "has no 'direct' style")
    cap = None if max_level is None else {t.name: max_level for t in tasks}
    return TaskMixture(tasks, seed, MixtureConfig(direct_fraction=1.0, max_difficulty=cap))


def text_batch(examples: Sequence[Example], qs: QuietStar
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ids, valid, answer) (B, L) of ``<bos> prompt completion <eos>`` texts,
    right-padded; ``answer`` marks the completion tokens (``<eos>`` included)."""
    rows = [encode_example(qs.codec, ex) for ex in examples]  # type: ignore[arg-type]
    L = max(len(r) for r, _ in rows)
    ids = torch.full((len(rows), L), qs.codec.pad_id, dtype=torch.long)
    valid = torch.zeros((len(rows), L), dtype=torch.bool)
    answer = torch.zeros((len(rows), L), dtype=torch.bool)
    for b, (r, m) in enumerate(rows):
        ids[b, : len(r)] = torch.tensor(r)
        valid[b, : len(r)] = True
        answer[b, : len(r)] = torch.tensor(m, dtype=torch.bool)
    return ids.to(qs.device), valid.to(qs.device), answer.to(qs.device)


def optimizer(qs: QuietStar, cfg: TrainConfig) -> torch.optim.Optimizer:
    extra = qs.extra_parameters()
    ids = {id(p) for group in extra.values() for p in group}
    base = [p for p in qs.parameters() if id(p) not in ids]
    return torch.optim.AdamW([
        {"params": base, "lr": cfg.lr, "mult": 1.0},
        {"params": extra["meta"], "lr": cfg.lr * cfg.meta_lr_mult, "mult": cfg.meta_lr_mult,
         "weight_decay": 0.0},
        {"params": extra["mixer"], "lr": cfg.lr * cfg.mixer_lr_mult,
         "mult": cfg.mixer_lr_mult}], lr=cfg.lr, weight_decay=0.0)


def schedule_horizon(cfg: TrainConfig, stream: TaskMixture, qs: QuietStar,
                     tcfg: ThoughtConfig | None, probe: int = 8) -> int:
    """Steps the learning-rate schedule spans: ``cfg.steps``, or fewer when a FLOP budget
    will stop the run first (estimated from the first ``probe`` batches' lengths), so a
    compute-matched control finishes its schedule like the run it is matched to."""
    if cfg.max_flops is None:
        return cfg.steps
    per_step = []
    for s in range(min(probe, cfg.steps)):
        ids, _, _ = text_batch([stream[s * cfg.batch_size + k] for k in range(cfg.batch_size)], qs)
        per_step.append(3.0 * qs.backbone.flops_per_token * step_tokens(tuple(ids.shape), tcfg))
    return max(1, min(cfg.steps, math.ceil(cfg.max_flops / (sum(per_step) / len(per_step)))))


def progress_line(rec: dict[str, Any], horizon: int) -> str:
    """One human-readable line of a metrics record: losses, tokens/s, ETA."""
    step, sec = rec["step"], max(rec["seconds"], 1e-9)
    extra = "".join(f" {k} {rec[k]:.4f}" for k in ("nll_mixed", "mix_weight", "reward_spread")
                    if k in rec)
    return (f"step {step}/{horizon} loss {rec['loss']:.4f} nll_base {rec['nll_base']:.4f}"
            f"{extra} | {rec['text_tokens'] / sec:.0f} text tok/s, "
            f"ETA {sec / step * max(0, horizon - step):.0f}s")


def train(qs: QuietStar, tasks: Sequence[Task], cfg: TrainConfig, out: str | Path,
          lcfg: LossConfig | None = None, log: Callable[[str], None] = print,
          resume: bool = False) -> dict[str, Any]:
    """Train ``qs`` in place; write ``out/checkpoint``, ``out/state.pt`` (every
    ``save_minutes`` and at the end), ``out/metrics.jsonl`` and ``out/train.json``;
    return the summary written to train.json. ``resume`` continues the run saved in
    ``out`` (weights, optimizer, step, FLOPs, clock): the text is indexed by step and
    each step's thoughts are seeded by it, so the continuation draws what an
    uninterrupted run would."""
    lcfg = lcfg or LossConfig()
    out = Path(out)
    stream = direct_text(tasks, cfg.seed, cfg.max_level)
    opt = optimizer(qs, cfg)
    tcfg = None if cfg.mode == "plain" else qs.cfg
    if tcfg is not None:
        qs.cfg.pause = cfg.mode == "pause"
    state = open_run(out, qs, opt, resume=resume, meta={"mode": cfg.mode})
    if state.meta.get("mode") != cfg.mode:
        raise ConfigError(f"{out} holds a {state.meta.get('mode')} run; resume it with "
                          f"--mode {state.meta.get('mode')}")
    flops_tok = qs.backbone.flops_per_token
    horizon = schedule_horizon(cfg, stream, qs, tcfg)
    flops = float(state.meta.get("flops", 0.0))
    t0 = time.perf_counter() - state.elapsed

    def recipe() -> dict[str, Any]:
        return {"mode": cfg.mode, "steps": state.step, "train": asdict(cfg),
                "loss": asdict(lcfg), "thought": asdict(qs.cfg),
                "tasks": [t.name for t in tasks]}

    saver = Saver(out, state, qs, opt,
                  lambda: save_quietstar(qs, out / "checkpoint", recipe=recipe()),
                  lambda: time.perf_counter() - t0, minutes=cfg.save_minutes)
    qs.train()
    res: StepResult | None = None
    while state.step < cfg.steps:
        step = state.step
        ids, valid, answer = text_batch([stream[step * cfg.batch_size + k]
                                         for k in range(cfg.batch_size)], qs)
        is_target = answer if cfg.targets == "answer" else None
        for g in opt.param_groups:
            g["lr"] = cfg.lr * g["mult"] * lr_factor(
                step, step_progress(step, horizon, cfg.warmup_steps), cfg.warmup_steps, 0.1)
        gen = torch.Generator(device=qs.device).manual_seed(cfg.seed * 1_000_003 + step)
        res = (plain_loss(qs, ids, valid, is_target) if tcfg is None
               else quiet_star_loss(qs, ids, valid, tcfg, lcfg, gen, is_target))
        res.loss.backward()
        apply_step(qs.parameters(), opt, cfg.grad_clip)
        flops += 3.0 * flops_tok * step_tokens(tuple(ids.shape), tcfg)
        state.step, state.tokens = step + 1, state.tokens + int(valid.sum())
        state.meta["flops"] = flops
        elapsed = time.perf_counter() - t0
        done = (cfg.max_flops is not None and flops >= cfg.max_flops) or \
               (cfg.max_seconds is not None and elapsed >= cfg.max_seconds) or \
               state.step >= cfg.steps
        if step % cfg.log_every == 0 or done:
            rec = {"step": state.step, **{k: round(v, 5) for k, v in res.metrics.items()},
                   "text_tokens": state.tokens, "flops": flops, "seconds": round(elapsed, 2)}
            append_metrics(out, rec)
            log(progress_line(rec, horizon))
        if done:
            break
        if saver.due():
            saver()
    qs.eval()
    saver()
    summary = {**recipe(), "schedule_steps": horizon, "flops": flops,
               "text_tokens": state.tokens, "seconds": round(time.perf_counter() - t0, 2),
               "final": res.metrics if res is not None else {}}
    atomic_write_text(out / "train.json", json.dumps(summary, indent=2, default=str))
    return summary
