"""Reinforcement learning with verifiable rewards (RLVR) for any ``TrainablePolicy``:
the built-in reasoner, or a transformers causal LM (``ponder.train.hf_policy``).

One step is four replaceable pieces, each a function of the one before:

    rollout    P train problems x G samples from the current policy (LM protocol)
    reward     the task verifier on the visible answer (+ optional shaping, PRM)
    advantage  grpo | dr_grpo | rloo | reinforce over the (P, G) reward matrix
    loss       PPO-clipped surrogate per completion token (+ beta * k3 KL to the start)

then one AdamW step per minibatch (``epochs`` passes over the rollout).

Where we depart from the papers (GRPO, Shao et al. 2024; RLOO, Ahmadian et al. 2024):
- No reward model by default: the reward is the exact verifier (RLVR, as in Tülu 3 /
  DeepSeek-R1). A PRM can be added as a dense term (``RewardConfig.prm_weight``).
- With ``epochs == minibatches == 1`` (the default) the update is exactly on-policy: the
  ratio is 1 and ``old_logp`` is the current log-prob detached, so the clip never binds
  and the loss is REINFORCE with the chosen baseline — as nanochat's RL does. Otherwise
  ``old_logp`` is the sampler's own per-token log-probs from the rollout (the policy's
  temperature-1 distribution, whatever the sampling temperature), recomputed by teacher
  forcing when a backend does not return them.
- Token-level loss aggregation (DAPO) by default; GRPO's per-sequence mean is an option.
- With no KL term, the update runs only the rows whose advantage is not 0 and rescales
  the loss to the whole batch's denominator: the same gradient for less compute (a group
  whose samples all scored alike carries none). ``skip_zero_advantage=False`` runs all.
- The KL to the reference (the starting policy) is measured every step even when its
  coefficient is 0, so its drift is always reported; ``track_kl=False`` saves that pass.
- The learning rate is constant after an optional linear warm-up (``min_lr_ratio`` < 1:
  cosine decay to that share); AdamW decays matrices only, not norm gains or biases
  (``TrainablePolicy.parameter_groups``). Optimizer, schedule and the run directory
  (atomic saves by step and by time, resume) are ``ponder.train.core``'s.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ponder.errors import ConfigError, check_at_least
from ponder.eval.accuracy import token_budgets
from ponder.lm.template import thinking_steps
from ponder.tasks.base import Problem, Task
from ponder.think.base import StepScorer
from ponder.train.advantages import get_advantage
from ponder.train.core import (
    Saver,
    apply_step,
    autocast,
    lr_factor,
    make_optimizer,
    open_run,
    resolve_precision,
    set_lr,
    step_progress,
)
from ponder.train.losses import LossConfig, live_share, policy_loss
from ponder.train.policy import TrainablePolicy
from ponder.train.rewards import RewardConfig, compute_rewards, task_verifier
from ponder.train.rollout import TokenBatch, evaluate, rollout, sampled_logprobs
from ponder.train.state import CHECKPOINT, RunState, append_metrics, read_metrics

REFERENCE = "reference"


@dataclass
class RLConfig:
    """One RL run. ``batch`` problems x ``group`` samples per step."""

    steps: int = 200
    batch: int = 8  # problems per step (P)
    group: int = 8  # samples per problem (G)
    advantage: str = "grpo"  # grpo | dr_grpo | rloo | reinforce
    difficulty: list[int] | None = None  # levels of the train problems (None: all)
    temperature: float = 1.0
    max_tokens: int | None = None  # None: per level, token_slack x the teacher's length
    token_slack: float = 1.5
    lr: float = 1e-4
    warmup_steps: int = 0
    min_lr_ratio: float = 1.0  # cosine decay to lr * min_lr_ratio (1: constant)
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    epochs: int = 1  # passes over each rollout
    minibatches: int = 1  # optimizer steps per pass
    drop_uniform: bool = False  # drop groups whose rewards are all equal (DAPO dynamic
    #                             sampling, without re-sampling): no signal, only dilution
    skip_zero_advantage: bool = True  # with no KL term, rows whose advantage is 0 add
    #                             nothing to the gradient: the update does not run them
    loss: LossConfig = field(default_factory=LossConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    track_kl: bool = True
    precision: str = "fp32"
    eval_every: int = 25  # steps between held-out evaluations (0: start and end only)
    eval_n: int = 64  # TEST problems per task per evaluation (0: none)
    save_every: int = 25
    save_minutes: float = 2.0  # ... and at most this long between saves (0: steps only)
    gen_batch: int = 64  # prompts per generate call
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.loss, dict):
            self.loss = LossConfig(**self.loss)
        if isinstance(self.reward, dict):
            self.reward = RewardConfig(**self.reward)
        check_at_least(self, ("steps", "batch", "group", "epochs", "minibatches", "gen_batch"),
                       1, "rl")
        check_at_least(self, ("eval_every", "eval_n", "save_every", "warmup_steps", "grad_clip",
                              "save_minutes"), 0, "rl")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(f"rl: min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if self.advantage in ("grpo", "dr_grpo", "rloo") and self.group < 2:
            raise ConfigError(f"rl: {self.advantage} compares samples of one prompt; use "
                              "--group 2 or more (or --advantage reinforce)")
        get_advantage(self.advantage)  # unknown names fail here, not at step 1
        if self.temperature <= 0:
            raise ConfigError("rl: sampling temperature must be > 0 (greedy rollouts give "
                              "identical samples and no learning signal)")
        if self.minibatches > self.batch * self.group:
            raise ConfigError("rl: more minibatches than samples per step")
        if not self.lr > 0:
            raise ConfigError(f"rl: lr must be > 0, got {self.lr}")


def problem_batch(tasks: Sequence[Task], step: int, n: int, seed: int,
                  difficulty: list[int] | None) -> list[Problem]:
    """The ``n`` TRAIN problems of ``step``: tasks taken in turn, each draw a pure function
    of ``(seed, step)``, so a resumed run sees the same problems."""
    out: list[Problem] = []
    for k, task in enumerate(tasks):
        share = n // len(tasks) + (k < n % len(tasks))
        if share:
            out += task.problems("train", share, seed=seed * 1_000_003 + step,
                                 difficulty=difficulty)
    return out


def update_policy(policy: TrainablePolicy, optimizer: torch.optim.Optimizer, batch: TokenBatch,
                  adv: torch.Tensor, old_logp: torch.Tensor | None,
                  ref_logp: torch.Tensor | None, keep: torch.Tensor | None, cfg: RLConfig,
                  step: int) -> dict[str, float]:
    """``cfg.epochs`` passes of ``cfg.minibatches`` AdamW steps over one rollout.

    ``old_logp`` None means on-policy (one step): the ratio's denominator is the current
    log-prob detached. ``keep`` (rows, 1) zeroes the loss of dropped groups.

    With ``cfg.skip_zero_advantage`` and no KL term, rows whose advantage is exactly 0
    (a group whose samples all scored alike, or a dropped group) have a per-token loss
    of exactly 0 whatever the log-probs, so the forward and backward pass run over the
    other rows alone and the loss is rescaled to the full minibatch's denominator
    (``live_share``): the gradient and the optimizer step are those of the full pass
    (when no row is left, the step takes a zero gradient, so AdamW's moments and decay
    advance as they would). The loss statistics (``pg_loss`` aside, which is rescaled)
    and the tracked KL are then over the rows that ran; ``skipped`` is their share.
    Returns the last minibatch's loss statistics and gradient norm."""
    precision = resolve_precision(cfg.precision)
    model = policy.module
    model.train()
    stats: dict[str, float] = {}
    rows = torch.arange(len(batch.prompts))
    gen = torch.Generator().manual_seed(cfg.seed * 31 + step)
    for _ in range(cfg.epochs):
        order = rows[torch.randperm(len(rows), generator=gen)] if cfg.minibatches > 1 else rows
        for mb in order.chunk(cfg.minibatches):
            scale, skipped = 1.0, 0.0
            if cfg.skip_zero_advantage and cfg.loss.beta == 0:
                lengths = torch.tensor(batch.select(mb.tolist()).lengths, dtype=torch.float)
                weight = keep[mb, 0] if keep is not None else torch.ones(len(mb))
                live = (adv[mb] != 0) & (weight > 0)
                if not live.all():
                    scale = live_share(lengths * weight, live, cfg.loss.aggregate)
                    skipped = 1.0 - float(live.float().mean())
                    mb = mb[live]
            optimizer.zero_grad(set_to_none=True)
            if len(mb):
                sub = batch.select(mb.tolist())
                with autocast(precision):
                    logp, mask = policy.token_logprobs(sub)  # (b, C_mb)
                C = logp.shape[1]  # the minibatch's longest completion
                if keep is not None:
                    mask = mask * keep[mb]
                old = logp.detach() if old_logp is None else old_logp[mb, :C]
                out = policy_loss(cfg.loss, logp, old, adv[mb], mask,
                                  None if ref_logp is None else ref_logp[mb, :C])
                (out.loss * scale).backward()
                loss_stats = {**out.stats, "pg_loss": out.stats["pg_loss"] * scale}
            else:  # nothing carries a gradient: a zero one, so the optimizer still steps
                for p in model.parameters():
                    if p.requires_grad:
                        p.grad = torch.zeros_like(p)
                loss_stats = {"pg_loss": 0.0}
            norm = apply_step(model.parameters(), optimizer, cfg.grad_clip)
            stats = {**loss_stats, "grad_norm": norm, "skipped": skipped}
    model.eval()
    return stats


def rl_step(policy: TrainablePolicy, ref: TrainablePolicy | None,
            optimizer: torch.optim.Optimizer, problems: list[Problem], caps: list[int],
            verify, cfg: RLConfig, step: int, prm: StepScorer | None = None,
            ) -> dict[str, Any]:
    """rollout -> reward -> advantage -> loss -> update; returns the step's metrics."""
    t0 = time.perf_counter()
    policy.module.eval()
    ro = rollout(policy.lm(), problems, cfg.group, caps, cfg.temperature,
                 seed=cfg.seed * 7919 + step, batch_size=cfg.gen_batch)
    t_gen = time.perf_counter() - t0
    per = ro.per_completion()
    lengths = [c.tokens for c in ro.completions]
    limits = [cap for cap in caps for _ in range(cfg.group)]
    rw = compute_rewards(cfg.reward, per, ro.prompts, ro.texts, lengths, limits, verify, prm)
    rewards = torch.tensor(rw.total).view(len(problems), cfg.group)  # (P, G)
    adv = get_advantage(cfg.advantage)(rewards).flatten()  # (P*G,)
    uniform = (rewards == rewards[:, :1]).all(dim=1)  # (P,) groups with no contrast

    batch = policy.encode(ro.prompts, ro.texts, ro.finished)
    precision = resolve_precision(cfg.precision)
    with torch.no_grad(), autocast(precision):
        ref_logp = ref.token_logprobs(batch)[0] if ref is not None else None
        old_logp = None  # on-policy: the ratio is exactly 1
        if cfg.epochs > 1 or cfg.minibatches > 1:
            old_logp = sampled_logprobs(ro.completions, batch)
            if old_logp is None:
                old_logp = policy.token_logprobs(batch)[0]

    keep = (~uniform).repeat_interleave(cfg.group).float()[:, None] \
        if cfg.drop_uniform else None  # (P*G, 1)
    stats = update_policy(policy, optimizer, batch, adv, old_logp, ref_logp, keep, cfg, step)

    n = len(ro.completions)
    correct = torch.tensor(rw.correct).view(len(problems), cfg.group)
    metrics: dict[str, Any] = {
        "reward": float(rewards.mean()),
        "accuracy": float(correct.mean()),  # of the sampled train completions
        "solve_rate": float((correct.sum(1) > 0).float().mean()),  # pass@G on the batch
        "tokens": sum(lengths) / n,  # mean completion length
        "cot_steps": sum(len(thinking_steps(t)) for t in ro.texts) / n,
        "finished": sum(ro.finished) / n,
        "uniform_groups": float(uniform.float().mean()),
        **{k: round(v, 6) for k, v in stats.items()},
        "gen_s": round(t_gen, 3),
        "step_s": round(time.perf_counter() - t0, 3),
    }
    for name, values in rw.parts.items():
        if name != "verifier":
            metrics[f"reward_{name}"] = sum(values) / n
    return metrics


class RLDisplay:
    """Progress bar on stderr: step, reward, sampled accuracy, mean CoT length, KL, and
    the latest held-out accuracy."""

    def __init__(self, enabled: bool, total: int, start: int):
        self.progress = Progress(
            TextColumn("[bold]rl"), BarColumn(), MofNCompleteColumn(),
            TextColumn("reward {task.fields[reward]}  acc {task.fields[acc]}  "
                       "len {task.fields[len]}  kl {task.fields[kl]}  test {task.fields[test]}"),
            TimeRemainingColumn(), console=Console(stderr=True), disable=not enabled)
        self.task = self.progress.add_task("rl", total=total, completed=start, reward="-",
                                           acc="-", len="-", kl="-", test="-")

    def __enter__(self) -> RLDisplay:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def update(self, step: int, metrics: dict[str, Any] | None = None,
               evals: dict[str, Any] | None = None) -> None:
        fields: dict[str, str] = {}
        if metrics:
            fields.update(reward=f"{metrics['reward']:.3f}", acc=f"{metrics['accuracy']:.3f}",
                          len=f"{metrics['tokens']:.0f}",
                          kl=f"{metrics['kl']:.4f}" if "kl" in metrics else "-")
        if evals and evals.get("accuracy") is not None:
            fields["test"] = f"{evals['accuracy']:.3f}"
        self.progress.update(self.task, completed=step, **fields)


@dataclass
class RLResult:
    step: int
    evals: list[dict[str, Any]]  # every held-out evaluation of the run, in order
    last: dict[str, Any]  # the last training step's metrics


def _open_run(run: Path, policy: TrainablePolicy, optimizer: torch.optim.Optimizer,
              cfg: RLConfig, meta: dict[str, Any], resume: bool,
              ) -> tuple[RunState, TrainablePolicy | None, list[dict[str, Any]]]:
    """Start a run in ``run`` (saving the reference policy) or restore the one there:
    (state, frozen reference or None, the evaluations recorded so far)."""
    need_ref = cfg.loss.beta > 0 or cfg.track_kl
    state = open_run(run, policy.module, optimizer, resume=resume,
                     meta=None if resume else meta)
    if resume:
        ref = policy.reopen(run / REFERENCE) if need_ref else None
        evals = [r for r in read_metrics(run) if r.get("kind") == "eval"]
    else:
        evals = []
        ref = policy.copy(frozen=True) if need_ref else None
        if ref is not None:
            ref.save(run / REFERENCE, {"role": "RL reference policy"})
    if ref is not None:
        ref.module.eval().requires_grad_(False)
    return state, ref, evals


def run_rl(policy: TrainablePolicy, tasks: Sequence[Task], cfg: RLConfig,
           out: str | Path, *, resume: bool = False, prm: StepScorer | None = None,
           progress: bool = True, meta: dict[str, Any] | None = None) -> RLResult:
    """Train ``policy`` in place with RL for ``cfg.steps`` steps; writes
    ``out/checkpoint``, ``out/state.pt`` (resume), ``out/reference`` (the starting policy,
    for the KL) and ``out/metrics.jsonl`` (one ``train`` record per step, ``eval``
    records)."""
    run = Path(out)
    optimizer = make_optimizer(policy.parameter_groups(cfg.weight_decay), cfg.lr)
    meta = {"trainer": "rl", "rl": asdict(cfg), "model": policy.describe(),
            "tasks": [t.name for t in tasks], **(meta or {})}
    state, ref, evals = _open_run(run, policy, optimizer, cfg, meta, resume)
    verify = task_verifier(tasks)
    budgets = {} if cfg.max_tokens else {
        t.name: token_budgets(t, policy.lm(), seed=cfg.seed, slack=cfg.token_slack)
        for t in tasks}
    t_start = time.perf_counter() - state.elapsed

    def run_eval() -> dict[str, Any]:
        if not cfg.eval_n:
            return {}
        acc, by_task = evaluate(policy.lm(), tasks, cfg.eval_n, cfg.seed,
                                cfg.difficulty)
        rec = {"kind": "eval", "step": state.step, "accuracy": acc,
               **{f"accuracy_{k}": v for k, v in by_task.items()}}
        append_metrics(run, rec)
        evals.append(rec)
        return rec

    save = Saver(run, state, policy.module, optimizer,
                 lambda: policy.save(run / CHECKPOINT, {**state.meta, "step": state.step}),
                 lambda: time.perf_counter() - t_start, cfg.save_every, cfg.save_minutes)

    if state.step == 0:
        run_eval()
    last: dict[str, Any] = {}
    with RLDisplay(progress, cfg.steps, state.step) as display:
        display.update(state.step, evals=evals[-1] if evals else None)
        while state.step < cfg.steps:
            lr = cfg.lr * lr_factor(state.step, step_progress(state.step, cfg.steps,
                                                              cfg.warmup_steps),
                                    cfg.warmup_steps, cfg.min_lr_ratio)
            set_lr(optimizer, lr)
            problems = problem_batch(tasks, state.step, cfg.batch, cfg.seed, cfg.difficulty)
            caps = [cfg.max_tokens or budgets[p.task][p.difficulty] for p in problems]
            last = rl_step(policy, ref, optimizer, problems, caps, verify, cfg, state.step,
                           prm)
            state.step += 1
            state.examples += len(problems) * cfg.group
            append_metrics(run, {"kind": "train", "step": state.step, "lr": lr, **last,
                                 "elapsed": round(time.perf_counter() - t_start, 2)})
            ev = None
            if cfg.eval_every and state.step % cfg.eval_every == 0 and state.step < cfg.steps:
                ev = run_eval()
            display.update(state.step, last, ev)
            if state.step < cfg.steps and save.due():
                save()
        if not evals or evals[-1]["step"] != state.step:
            display.update(state.step, last, run_eval())
        save()
    return RLResult(state.step, evals, last)
