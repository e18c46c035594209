"""Supervised fine-tuning (and pretraining from scratch) on teacher chains of thought.

The built-in reasoner starts here: a fresh model learns to imitate the teacher traces of
a mixture of task families (``TaskMixture``), with a share of direct (no chain of
thought) examples, evaluated on held-out TEST problems as it trains. Later stages (STaR,
RL, distillation) fine-tune on their own (prompt, completion) lists with ``finetune``,
which is the same loop over an ``ExampleList``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from ponder.errors import ConfigError
from ponder.eval.accuracy import evaluate_tasks, mean_accuracy
from ponder.lm.checkpoint import load_checkpoint
from ponder.lm.model import PRESETS, Transformer, pool_kv_heads, preset
from ponder.lm.native import NativeLM
from ponder.lm.registry import weights_digest
from ponder.lm.tokenizer import CharTokenizer
from ponder.tasks import get_task
from ponder.tasks.base import Task
from ponder.train.core import autocast
from ponder.train.data import (
    Example,
    ExampleList,
    MixtureConfig,
    TaskMixture,
    collate,
    encode_example,
    task_example,
)
from ponder.train.layout import DEFAULT_TASKS
from ponder.train.loop import (
    Evaluator,
    TrainConfig,
    TrainResult,
    masked_nll,
    train,
    train_policy,
)
from ponder.train.policy import NativePolicy, TrainablePolicy
from ponder.train.state import read_state


@dataclass
class SFTConfig:
    """What a from-scratch SFT run trains on and how it is checked while training.

    tasks: task names of the mixture (``ponder.tasks.get_task``).
    preset: model size (``ponder.lm.model.PRESETS``).
    weights / direct_fraction / max_difficulty / curriculum / styles / prompt_pad /
        pad_at: see ``MixtureConfig``.
    eval_n: held-out TEST problems per task for the greedy accuracy at each evaluation
        (0 skips generation and reports only the held-out loss).
    eval_loss_n: TEST problems per task whose teacher traces give the held-out loss.
    max_seq_len: the model's context; must hold the longest prompt + trace.
    positions: ``rope`` (rotary positions) or ``none`` (no positional encoding, NoPE:
        attention tells order by the causal mask alone; Kazemnejad et al. 2023 found it
        generalises to longer inputs better than rotary positions in small models).
    digit_index: size of the table of digit-index embeddings (0: none; Abacus,
        ``ponder.lm.digits``): each digit also embeds its index in its number, offset
        at random in training, so copying a number matches indices instead of counting.
    kv_heads: key/value heads (grouped-query attention: each serves n_head / kv_heads
        query heads, and a decoding step reads that many times fewer cached bytes);
        0 = the preset's one per query head. With ``init``, the checkpoint's key/value
        heads are mean-pooled into this many before training continues (uptraining,
        ``ponder.lm.model.pool_kv_heads``).
    init: a ponder checkpoint to start from instead of a fresh model (its shape, context
        and weights; ``preset``, ``max_seq_len``, ``positions`` and ``digit_index`` are
        then not used):
        continued training on the mixture, e.g. an ablation arm that starts from a
        trained model.
    """

    tasks: tuple[str, ...] = DEFAULT_TASKS
    preset: str = "small"
    weights: dict[str, float] | None = None
    direct_fraction: float = 0.1
    max_difficulty: dict[str, int] | None = None
    curriculum: str = "uniform"
    styles: dict[str, str] | None = None
    prompt_pad: int | dict[str, int] = 0
    pad_at: str = "sentences"
    eval_n: int = 32
    eval_loss_n: int = 32
    max_seq_len: int = 1024
    positions: str = "rope"
    digit_index: int = 0
    kv_heads: int = 0
    init: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes for the recipe

    def __post_init__(self) -> None:
        self.tasks = tuple(self.tasks)
        if not self.tasks:
            raise ConfigError("give at least one task to train on (e.g. --task arith)")
        if self.preset not in PRESETS:
            raise ConfigError(f"unknown preset {self.preset!r}; choose one of {list(PRESETS)}")
        if self.eval_n < 0 or self.eval_loss_n < 0:
            raise ConfigError("eval_n and eval_loss_n must be >= 0")
        if self.max_seq_len < 16:
            raise ConfigError(f"max_seq_len must be >= 16, got {self.max_seq_len}")
        if self.positions not in POSITIONS:
            raise ConfigError(f"positions must be one of {list(POSITIONS)}, got "
                              f"{self.positions!r}")
        if self.init is not None and self.positions != "rope":
            raise ConfigError("--init keeps the checkpoint's positions; drop --positions")
        if self.digit_index < 0 or self.digit_index == 1:
            raise ConfigError(f"digit_index must be 0 (none) or >= 2, got {self.digit_index}")
        if self.init is not None and self.digit_index:
            raise ConfigError("--init keeps the checkpoint's embeddings; drop --digit-index")
        heads = PRESETS[self.preset]["n_head"]
        if self.init is None and (self.kv_heads < 0 or self.kv_heads and heads % self.kv_heads):
            raise ConfigError(f"kv_heads must divide the {self.preset} preset's {heads} "
                              f"heads (0: one per head), got {self.kv_heads}")
        self.mixture()  # validates

    def mixture(self) -> MixtureConfig:
        return MixtureConfig(self.weights, self.direct_fraction, self.max_difficulty,
                             self.curriculum, self.styles, self.prompt_pad, self.pad_at)


POSITIONS = {"rope": 1.0, "none": 0.0}  # SFTConfig.positions -> ModelConfig.position_scale


def build_model(name: str, tok: CharTokenizer, seed: int = 0,
                max_seq_len: int = 1024, positions: str = "rope",
                digit_index: int = 0, kv_heads: int = 0) -> Transformer:
    """A freshly initialised preset model over ``tok``'s vocabulary, with rotary
    positions or none (``POSITIONS``), ``digit_index`` digit-index embeddings and
    ``kv_heads`` key/value heads (0: one per query head)."""
    torch.manual_seed(seed)
    return Transformer(preset(name, vocab_size=tok.vocab_size, max_seq_len=max_seq_len,
                              position_scale=POSITIONS[positions], digit_index=digit_index,
                              digit_first=tok.stoi["0"], n_kv_head=kv_heads))


@torch.no_grad()
def heldout_loss(model: Transformer, tok: CharTokenizer, examples: list[Example],
                 batch_size: int = 32, precision: str = "fp32") -> float:
    """Token-weighted mean completion loss of ``examples`` (e.g. teacher traces of TEST
    problems): the held-out counterpart of the training loss."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0.0
    for i in range(0, len(examples), batch_size):
        enc = [encode_example(tok, ex) for ex in examples[i : i + batch_size]]
        b = collate(enc, tok.pad_id, model.cfg.max_seq_len)
        with autocast(precision):
            logits = model(b.idx)
        n = float(b.mask.sum())
        total += float(masked_nll(logits, b.targets, b.mask)) * n
        count += n
    model.train(was_training)
    return total / max(count, 1.0)


def make_evaluator(tasks: Sequence[Task], tok: CharTokenizer, eval_n: int = 32,
                   eval_loss_n: int = 32, seed: int = 0,
                   max_tokens: int | None = None) -> Evaluator:
    """Held-out loss on TEST teacher traces and greedy TEST accuracy per task.

    The problem sets are fixed once (``seed``), so successive evaluations of a run are
    comparable. Accuracy runs the model through the LM protocol (``NativeLM``), as
    ``ponder eval`` does.
    """
    heldout = [task_example(t, p) for t in tasks
               for p in t.problems("test", eval_loss_n, seed=seed)]

    def evaluate(model: Transformer, step: int) -> dict[str, Any]:
        metrics: dict[str, Any] = {}
        if heldout:
            metrics["heldout_loss"] = round(heldout_loss(model, tok, heldout), 5)
        if eval_n:
            reports = evaluate_tasks(NativeLM(model, tok), tasks, eval_n, seed=seed,
                                     max_tokens=max_tokens)
            metrics["accuracy"] = round(mean_accuracy(reports), 4)
            metrics.update({f"accuracy_{k}": round(r.accuracy, 4) for k, r in reports.items()})
        return metrics

    return evaluate


def run_meta(sft: SFTConfig, model: Transformer, extra: dict[str, Any] | None = None
             ) -> dict[str, Any]:
    """What the run state and the checkpoint's recipe.json record about a run."""
    return {"trainer": "sft", "sft": asdict(sft), "model": model.cfg.to_dict(),
            "params": model.num_params(), **(extra or {})}


def load_run_configs(run_dir: str | Path) -> tuple[SFTConfig, TrainConfig]:
    """The configs a saved SFT run was started with (for ``--resume``)."""
    meta = read_state(Path(run_dir))["run"]["meta"]
    if meta.get("trainer") != "sft":
        raise ConfigError(f"{run_dir} is not an SFT run (trainer={meta.get('trainer')!r})")
    # runs saved before packing existed trained on padded batches
    return SFTConfig(**meta["sft"]), TrainConfig(**{"pack": False, **meta["train"]})


def train_sft(sft: SFTConfig, cfg: TrainConfig, run_dir: str | Path | None = None, *,
              resume: bool = False, progress: bool = True,
              extra: dict[str, Any] | None = None) -> tuple[Transformer, TrainResult]:
    """Train a model from scratch on the task mixture; returns (model, result).

    With ``resume``, the model shape comes from the saved run (the configs passed here
    should be those of ``load_run_configs``, with any budget changes)."""
    tok = CharTokenizer()
    tasks = [get_task(name) for name in sft.tasks]
    model = build_model(sft.preset, tok, cfg.seed, sft.max_seq_len, sft.positions,
                        sft.digit_index, sft.kv_heads) \
        if sft.init is None \
        else initial_model(sft.init, tok, sft.kv_heads)
    data = TaskMixture(tasks, seed=cfg.seed, config=sft.mixture())
    if sft.styles is None:  # record the formats trained on, not "the defaults of the day"
        sft = replace(sft, styles=dict(data.styles))
    evaluate = make_evaluator(tasks, tok, sft.eval_n, sft.eval_loss_n, seed=cfg.seed)
    meta = {**run_meta(sft, model, extra), "train": asdict(cfg)}
    if sft.init is not None:  # which weights the run continued
        meta["init_sha256"] = weights_digest(sft.init)
    result = train(model, tok, data, cfg, run_dir, evaluate=evaluate, resume=resume,
                   meta=meta, progress=progress)
    return model, result


def initial_model(path: str, tok: CharTokenizer, kv_heads: int = 0) -> Transformer:
    """The trainable model of the checkpoint at ``path`` (``SFTConfig.init``), its
    key/value heads mean-pooled into ``kv_heads`` when that is not 0."""
    model, their_tok, _ = load_checkpoint(path)
    if their_tok.vocab_size != tok.vocab_size or their_tok.itos != tok.itos:
        raise ConfigError(f"{path} uses another tokenizer than the built-in one; "
                          "it cannot continue training on the task mixture")
    if kv_heads:
        try:
            model = pool_kv_heads(model, kv_heads)
        except ValueError as e:
            raise ConfigError(f"--kv-heads with --init {path}: {e}") from None
    return model.train()


def finetune(model: Transformer, tok: CharTokenizer, examples: Sequence[Example],
             cfg: TrainConfig, run_dir: str | Path | None = None, *,
             evaluate: Evaluator | None = None, resume: bool = False,
             meta: dict[str, Any] | None = None, progress: bool = True) -> TrainResult:
    """Fine-tune ``model`` in place on explicit (prompt, completion) examples, e.g. the
    verified self-generated solutions of STaR or the traces of a larger teacher."""
    return finetune_policy(NativePolicy(model, tok), examples, cfg, run_dir,
                           evaluate=evaluate, resume=resume, meta=meta, progress=progress)


def finetune_policy(policy: TrainablePolicy, examples: Sequence[Example], cfg: TrainConfig,
                    run_dir: str | Path | None = None, *, evaluate: Evaluator | None = None,
                    resume: bool = False, meta: dict[str, Any] | None = None,
                    progress: bool = True) -> TrainResult:
    """``finetune`` for any policy (the built-in model or a transformers model); the
    examples' prompts must be in the policy's own layout (``prompt_for(policy.lm(), q)``)."""
    data = ExampleList(examples, seed=cfg.seed)
    return train_policy(policy, data, cfg, run_dir, evaluate=evaluate, resume=resume,
                        meta={"trainer": "finetune", "examples": len(examples),
                              **(meta or {})}, progress=progress)
