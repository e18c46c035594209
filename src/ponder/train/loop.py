"""The fine-tuning loop every imitation trainer shares (SFT, STaR, the flywheel,
distillation, revision training, ``seed``): next-token loss on completion tokens,
gradient accumulation, step and time budgets, periodic evaluation, a progress bar and
JSONL metrics (loss, tokens/s, padding share, achieved FLOP/s and MFU against the
measured matmul peak). The optimizer, schedule, precision and run directory (atomic
checkpoints by step and by time, resume) are ``ponder.train.core``'s, shared with RL and
reward-model training.

Batches are packed rows of whole examples (``ponder.train.packing``) or, with
``pack=False``, padded length-grouped examples; a ``TaskMixture`` with the competence
curriculum is scored from each step's logits (``ponder.train.curriculum``).

Trainers differ only in the example stream they feed it (teacher traces for SFT,
self-generated solutions for STaR, distilled traces...) and the evaluation they plug in.
``train_policy`` runs the same loop for any ``TrainablePolicy`` (a transformers model:
padded batches of whole examples, ``ponder.train.policy.ExampleBatches``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ponder.errors import ConfigError, check_at_least
from ponder.lm.digits import digit_runs, offset_runs
from ponder.lm.model import Transformer
from ponder.lm.tokenizer import CharTokenizer
from ponder.train.core import (
    PRECISIONS,
    Saver,
    apply_step,
    autocast,
    bf16_matmul_speedup,
    lr_factor,
    make_optimizer,
    open_run,
    resolve_precision,
    set_lr,
    step_progress,
)
from ponder.train.curriculum import Competence, segment_exact
from ponder.train.data import Batch, Batcher, ExampleStream
from ponder.train.flops import attended_context, matmul_peak_flops, mfu, train_flops_per_token
from ponder.train.packing import PACK_WINDOW, Packer
from ponder.train.policy import ExampleBatches, NativePolicy, TrainablePolicy, completion_nll
from ponder.train.positions import random_positions
from ponder.train.progress import Display, Window
from ponder.train.state import CHECKPOINT, RunState, append_metrics

#: (model, step) -> metrics such as {"heldout_loss": ..., "accuracy": ...}; the model is
#: the policy's module (the ``Transformer`` for the built-in model)
Evaluator = Callable[[Any, int], dict[str, Any]]


@dataclass
class TrainConfig:
    """Optimisation and budget of one run. Give ``steps``, ``minutes`` or both (the run
    stops at whichever comes first; the learning-rate schedule follows the nearer one)."""

    steps: int | None = 1000  # optimizer steps
    minutes: float | None = None  # wall-clock budget, evaluations and saves included
    batch_size: int = 32  # rows per micro-batch when packing, else examples per micro-batch
    grad_accum: int = 1  # micro-batches whose gradients add up to one optimizer step
    lr: float = 3e-3  # peak learning rate
    min_lr_ratio: float = 0.1  # the cosine decays to lr * min_lr_ratio
    warmup_steps: int = 20
    weight_decay: float = 0.1  # on matrices only, not on norms
    grad_clip: float = 1.0  # max global gradient norm (0 disables)
    precision: str = "auto"  # "fp32", "bf16" (autocast) or "auto" (see resolve_precision)
    eval_every: int = 0  # steps between evaluations (0: only at the end)
    save_every: int = 100  # steps between checkpoints (the end always saves)
    save_minutes: float = 2.0  # ... and at most this long between them (0: steps only)
    log_every: int = 10  # steps between metrics records
    pack: bool = True  # rows of whole examples packed to pack_len tokens (ponder.train.packing)
    pack_len: int = 0  # tokens per packed row (0: the model's context, max_seq_len)
    pack_window: int = PACK_WINDOW  # examples packed together (first-fit-decreasing)
    length_group: int = 8  # unpacked: batches sorted by length together (1: off)
    seed: int = 0  # model initialisation and data order
    threads: int = 0  # CPU threads for this run (0: torch's default); see train()
    # rotary positions of a training row: 1 = 0..T-1; s > 1 = an ordered random sample of
    # T slots of [0, s*T) divided by s, gaps varying around 1 (ponder.train.positions)
    position_span: float = 1.0

    def __post_init__(self) -> None:
        if self.steps is None and self.minutes is None:
            raise ConfigError("give a training budget: steps, minutes, or both")
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"steps must be >= 1, got {self.steps}")
        if self.minutes is not None and self.minutes <= 0:
            raise ConfigError(f"minutes must be > 0, got {self.minutes}")
        check_at_least(self, ("batch_size", "grad_accum", "log_every", "length_group",
                              "pack_window"), 1)
        check_at_least(self, ("warmup_steps", "eval_every", "save_every", "save_minutes",
                              "grad_clip", "weight_decay", "threads", "pack_len"), 0)
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if not self.position_span >= 1:
            raise ConfigError(f"position_span must be >= 1, got {self.position_span}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")


@dataclass
class TrainResult:
    step: int
    loss: float  # mean training loss over the last logging window
    tokens: int
    elapsed: float  # seconds, all sessions of the run
    eval: dict[str, Any] = field(default_factory=dict)  # the last evaluation


# -- pure pieces -------------------------------------------------------------------------
def masked_nll(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over the positions where ``mask`` is 1.

    logits (B, T, V), targets (B, T) with -1 at padding, mask (B, T) in {0, 1}. Averaged
    per token, so long traces weigh in proportion to what the model has to write.
    """
    ce = F.cross_entropy(logits.float().flatten(0, 1), targets.clamp_min(0).flatten(),
                         reduction="none").view_as(mask)  # (B, T)
    return (ce * mask).sum() / mask.sum().clamp_min(1.0)


def batch_loss(model: Transformer, batch: Batch, precision: str = "fp32",
               judge: Callable[[torch.Tensor], None] | None = None) -> torch.Tensor:
    """The completion loss of ``batch`` for the built-in model. ``judge`` is called with
    the detached logits (B, T, V), e.g. to score the batch for the curriculum without a
    second forward pass."""
    with autocast(precision):
        logits = model(batch.idx, batch.positions, batch.digits)  # (B, T, V)
    loss = masked_nll(logits, batch.targets, batch.mask)
    if judge is not None:
        judge(logits.detach())
    return loss


# -- the loop ----------------------------------------------------------------------------
def _judge(competence: Competence, batch: Batch, logits: torch.Tensor) -> None:
    competence.update(batch, segment_exact(logits, batch))


class _Budget:
    """Where the run stands against its step and time budgets."""

    def __init__(self, cfg: TrainConfig, state: RunState):
        self.cfg, self.state = cfg, state
        self.t0 = time.perf_counter() - state.elapsed
        # seconds the end of a time-budgeted run needs (the final evaluation and save),
        # measured as the run goes, so that training stops early enough for them
        self.reserve = float(state.meta.get("end_seconds", 0.0))

    def _time_share(self) -> float:
        limit = 60.0 * self.cfg.minutes  # type: ignore[operator]
        return self.elapsed() / max(limit - self.reserve, 0.5 * limit)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def progress(self) -> float:
        """Fraction of the budget spent, 0..1 (the nearer of the two limits)."""
        cfg, fracs = self.cfg, []
        if cfg.steps is not None:
            fracs.append(self.state.step / cfg.steps)
        if cfg.minutes is not None:
            fracs.append(self._time_share())
        return min(max(fracs), 1.0)

    def decay_progress(self) -> float:
        """Progress of the cosine phase: after warm-up when counting steps."""
        cfg, s = self.cfg, self.state.step
        fracs = []
        if cfg.steps is not None:
            fracs.append(step_progress(s, cfg.steps, cfg.warmup_steps))
        if cfg.minutes is not None:
            fracs.append(self._time_share())
        return max(fracs)

    def done(self) -> bool:
        return self.progress() >= 1.0


class _Batches:
    """The batch at the run's data position (``state.examples``, and ``state.rows`` when
    packing), advancing the position past it."""

    def __init__(self, data: ExampleStream, tok: CharTokenizer, cfg: TrainConfig,
                 model: Transformer):
        context = model.cfg.max_seq_len
        if cfg.pack_len > context:
            raise ConfigError(f"pack_len {cfg.pack_len} exceeds the model's context of "
                              f"{context}; lower pack_len or raise max_seq_len")
        self.cfg = cfg
        self.layout = (cfg.pack_len or context) if cfg.pack else 0  # RunState.pack_len
        self.packer = Packer(data, tok, cfg.batch_size, self.layout, cfg.pack_window,
                             cfg.seed)
        self.batcher = Batcher(data, tok, cfg.batch_size, context, cfg.length_group, cfg.seed)
        self._fpt: dict[int, float] = {}
        self.model = model

    def fresh(self, state: RunState) -> bool:
        """Whether the next batch begins a new packing window (or length group), the only
        points where the curriculum may change the draws (see ponder.train.curriculum)."""
        if self.layout:
            return state.rows == 0
        return state.examples % (self.cfg.batch_size * self.cfg.length_group) == 0

    def next(self, state: RunState) -> Batch:
        if self.layout:
            batch, state.examples, state.rows = self.packer(state.examples, state.rows)
        else:
            batch = self.batcher(state.examples)
            state.examples += self.cfg.batch_size
        if self.cfg.position_span > 1:  # drawn from where the run stands: resumes exactly
            gen = torch.Generator().manual_seed(
                hash((self.cfg.seed, state.examples, state.rows)) & (2**62 - 1))
            batch.positions = random_positions(*batch.idx.shape, self.cfg.position_span, gen)
        mc = self.model.cfg
        if mc.digit_index:  # each row's digit indices at a random offset (ponder.lm.digits)
            gen = torch.Generator().manual_seed(
                hash((self.cfg.seed, state.examples, state.rows, 1)) & (2**62 - 1))
            batch.digits = offset_runs(digit_runs(batch.idx, mc.digit_first),
                                       mc.digit_index, gen)
        return batch

    def flops(self, batch: Batch) -> float:
        """Model FLOPs of one training step on ``batch`` (real tokens only)."""
        T = batch.idx.shape[1]
        if T not in self._fpt:
            forward = self.model.flops_per_token(attended_context(T))
            self._fpt[T] = train_flops_per_token(forward)
        return self._fpt[T] * batch.n_tokens


def train(model: Transformer, tok: CharTokenizer, data: ExampleStream, cfg: TrainConfig,
          run_dir: str | Path | None = None, *, evaluate: Evaluator | None = None,
          resume: bool = False, meta: dict[str, Any] | None = None,
          progress: bool = True) -> TrainResult:
    """Train ``model`` in place on ``data`` until the budget in ``cfg`` is spent.

    With ``run_dir``, checkpoints, ``state.pt`` and ``metrics.jsonl`` go there, and
    ``resume=True`` continues the run saved in it (model, optimizer, data position and
    clock). ``meta`` is stored in the run state and the checkpoint's recipe.
    ``cfg.threads`` (if > 0) sets torch's CPU threads for the run; the caller's count is
    restored afterwards.
    """
    return train_policy(NativePolicy(model, tok), data, cfg, run_dir, evaluate=evaluate,
                        resume=resume, meta=meta, progress=progress)


def train_policy(policy: TrainablePolicy, data: ExampleStream, cfg: TrainConfig,
                 run_dir: str | Path | None = None, *, evaluate: Evaluator | None = None,
                 resume: bool = False, meta: dict[str, Any] | None = None,
                 progress: bool = True) -> TrainResult:
    """``train`` for any ``TrainablePolicy``: the built-in model on packed rows, any
    other (a transformers model) on padded batches of whole examples."""
    threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _train(policy, data, cfg, run_dir, evaluate, resume, meta, progress)
    finally:
        torch.set_num_threads(threads)


def _train(policy: TrainablePolicy, data: ExampleStream, cfg: TrainConfig,
           run_dir: str | Path | None, evaluate: Evaluator | None, resume: bool,
           meta: dict[str, Any] | None, progress: bool) -> TrainResult:
    run = Path(run_dir) if run_dir is not None else None
    model = policy.module
    native = isinstance(policy, NativePolicy)
    batches = _Batches(data, policy.tok, cfg, policy.model) if native else \
        ExampleBatches(data, policy, cfg.batch_size)
    precision = resolve_precision(cfg.precision)
    optimizer = make_optimizer(policy.parameter_groups(cfg.weight_decay), cfg.lr)
    state = RunState(meta=dict(meta or {}))
    competence = getattr(data, "competence", None)  # a TaskMixture's curriculum, if any
    if run is not None:
        state = open_run(run, model, optimizer, resume=resume, meta=meta)
        if resume and state.pack_len != batches.layout:
            saved = (f"packed rows of {state.pack_len} tokens" if state.pack_len
                     else "unpacked batches")
            raise ConfigError(f"{run} was trained on {saved}; resume it with the same "
                              "pack and pack_len (--no-pack for unpacked runs)")
        if resume and competence is not None and state.curriculum:
            competence.load_state_dict(state.curriculum)

    state.pack_len = batches.layout
    # the machine's matmul peak, for MFU; measured again on resume (it may be another host)
    peak_dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    peak = matmul_peak_flops(torch.get_num_threads(), dtype=peak_dtype)
    state.meta["matmul_peak_flops"] = round(peak)
    state.meta["matmul_peak_dtype"] = str(peak_dtype).removeprefix("torch.")
    budget = _Budget(cfg, state)
    recipe = {**state.meta, "train": asdict(cfg), "precision": precision}
    if cfg.precision == "auto":  # what the choice rested on
        recipe["bf16_matmul_speedup"] = round(bf16_matmul_speedup(), 3)

    def log(record: dict[str, Any]) -> None:
        if run is not None:
            append_metrics(run, {"step": state.step, **record})

    def keep_curriculum() -> None:
        if competence is not None:
            state.curriculum = competence.state_dict()

    saver = Saver(run, state, model, optimizer,
                  lambda: policy.save(run / CHECKPOINT, {**recipe, "step": state.step}),
                  budget.elapsed, cfg.save_every, cfg.save_minutes, keep_curriculum)

    def save() -> None:
        saver()
        budget.reserve = max(budget.reserve, saver.seconds)

    def run_eval() -> dict[str, Any]:
        if evaluate is None:
            return {}
        t = time.perf_counter()
        model.eval()
        metrics = evaluate(model, state.step)
        model.train()
        log({"kind": "eval", **metrics, "elapsed": round(budget.elapsed(), 2)})
        took = time.perf_counter() - t
        budget.reserve = max(budget.reserve, took + saver.seconds)
        state.meta["end_seconds"] = round(budget.reserve, 2)
        return metrics

    if cfg.minutes is not None and evaluate is not None and state.step == 0:
        run_eval()  # the starting point, and how long the final evaluation will take

    model.train()
    last_eval: dict[str, Any] = {}
    window, loss_value = Window(), float("nan")
    optimizer.zero_grad(set_to_none=True)
    with Display(enabled=progress, start=budget.progress()) as display:
        while not budget.done():
            factor = lr_factor(state.step, budget.decay_progress(), cfg.warmup_steps,
                               cfg.min_lr_ratio)
            set_lr(optimizer, cfg.lr * factor)
            for _ in range(cfg.grad_accum):  # micro-batches of one optimizer step
                t = time.perf_counter()
                if competence is not None and batches.fresh(state):
                    competence.refresh()  # a new window: draw it by the competence so far
                batch = batches.next(state)
                if native:
                    judge = None if competence is None else \
                        functools.partial(_judge, competence, batch)
                    loss = batch_loss(model, batch, precision, judge)
                else:
                    with autocast(precision):
                        loss = completion_nll(policy, batch)
                (loss / cfg.grad_accum).backward()
                state.tokens += batch.n_tokens
                window.add(loss.item(), batch, time.perf_counter() - t, batches.flops(batch))
            t = time.perf_counter()
            apply_step(model.parameters(), optimizer, cfg.grad_clip)
            window.seconds += time.perf_counter() - t
            state.step += 1

            done = budget.done()
            if state.step % cfg.log_every == 0 or done:
                loss_value = window.mean_loss()
                log({"kind": "train", "loss": round(loss_value, 5), "lr": cfg.lr * factor,
                     "tokens": state.tokens, "tokens_per_s": round(window.tokens_per_s(), 1),
                     "pad_share": round(window.pad_share(), 4),
                     "flops_per_s": round(window.flops_per_s()),
                     "mfu": round(mfu(window.flops_per_s(), peak), 4),
                     "elapsed": round(budget.elapsed(), 2),
                     **({"frontier": competence.frontiers()} if competence is not None else {})})
                display.update(budget.progress(), step=state.step, loss=loss_value,
                               tps=window.tokens_per_s())
                window = Window()
            if cfg.eval_every and state.step % cfg.eval_every == 0 and not done:
                last_eval = run_eval()
                display.update(budget.progress(), metrics=last_eval)
            if not done and saver.due():
                save()
        last_eval = run_eval() or last_eval  # the end always evaluates and saves
        display.update(1.0, step=state.step, loss=loss_value, metrics=last_eval)
        save()
    return TrainResult(state.step, loss_value, state.tokens, budget.elapsed(), last_eval)
