"""The trainable-model interface the learning loop works through, and the built-in
model's implementation of it.

A trainer needs from a model: an ``LM`` that samples from its current weights (rollouts,
evaluation), its token ids for (prompt, completion) pairs, differentiable per-token
log-probabilities of given completions with a mask over completion tokens only, the
parameters to optimise in weight-decay groups, a frozen copy (the reference of a KL
term), and saving / reopening in its own format. ``NativePolicy`` is ponder's
``Transformer`` + ``CharTokenizer``; ``ponder.train.hf_policy.HFPolicy`` any transformers
causal LM (full fine-tuning or LoRA). ``open_policy`` turns a ``--model`` string into one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from ponder.errors import InvalidInput
from ponder.lm.base import LM
from ponder.lm.model import Transformer
from ponder.lm.sampler import completion_logprobs
from ponder.lm.tokenizer import CharTokenizer
from ponder.train.rollout import TokenBatch


@runtime_checkable
class TrainablePolicy(Protocol):
    """A model the trainers can sample from and update (see the module docstring)."""

    module: torch.nn.Module  # the parameters trained, and train()/eval()
    max_len: int  # longest prompt + completion, in tokens

    def lm(self) -> LM:
        """An LM sampling from the current weights (it follows later updates)."""
        ...

    def encode(self, prompts: Sequence[str], completions: Sequence[str],
               finished: Sequence[bool], strict: bool = False) -> TokenBatch:
        """Token ids; a finished completion ends with the end-of-sequence token, and each
        completion is cut so that prompt + completion fit ``max_len`` (``strict``: an
        example that does not fit is an error instead, as in fine-tuning)."""
        ...

    def token_logprobs(self, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logp, mask)``, both (B, C): log p of each completion token given everything
        before it (differentiable), and the mask of real completion tokens."""
        ...

    def parameter_groups(self, weight_decay: float) -> list[dict[str, Any]]:
        """Optimizer groups: matrices decayed, gains / biases / norms not."""
        ...

    def copy(self, frozen: bool = False) -> TrainablePolicy:
        """An independent copy (STaR fine-tunes a fresh copy of its base each round);
        ``frozen``: in eval mode with no gradients (a KL reference)."""
        ...

    def save(self, path: str | Path, recipe: dict[str, Any] | None = None) -> Path:
        """Write the model atomically to ``path`` in its own format."""
        ...

    def reopen(self, path: str | Path) -> TrainablePolicy:
        """A policy of the same kind loaded from a directory this kind ``save``-d."""
        ...

    def describe(self) -> dict[str, Any]:
        """What run metadata records about the model."""
        ...


def fit(prompt: list[int], completion: list[int], max_len: int, strict: bool) -> list[int]:
    """``completion`` cut so that prompt + completion fit ``max_len`` tokens; with
    ``strict``, an example that does not fit raises InvalidInput instead."""
    if strict and len(prompt) + len(completion) > max_len:
        raise InvalidInput(f"a training example has {len(prompt) + len(completion)} tokens "
                           f"({len(prompt)} of prompt), more than the model's context of "
                           f"{max_len}; use a model with a longer context or shorter "
                           "examples (lower --difficulty)")
    return completion[: max(0, max_len - len(prompt))]


def decay_groups(module: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Trainable parameters in two AdamW groups: matrices (ndim >= 2) with
    ``weight_decay``, the rest (norm gains, biases) without."""
    params = [p for p in module.parameters() if p.requires_grad]
    return [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]


class NativePolicy:
    """ponder's built-in ``Transformer`` with its character tokenizer; ``compile``
    compiles the decoding step its rollouts sample with (``ponder.lm.fused``)."""

    def __init__(self, model: Transformer, tok: CharTokenizer, share_prompts: bool = True,
                 compile: bool = False):
        self.module, self.model, self.tok = model, model, tok
        self.max_len = model.cfg.max_seq_len
        self.share_prompts = share_prompts  # False: every row runs its own prompt
        self.compile = compile

    def lm(self) -> LM:
        from ponder.lm.native import NativeLM

        return NativeLM(self.model, self.tok, compile=self.compile)

    def encode(self, prompts: Sequence[str], completions: Sequence[str],
               finished: Sequence[bool], strict: bool = False) -> TokenBatch:
        ps, cs = [], []
        for prompt, text, done in zip(prompts, completions, finished, strict=True):
            p = self.tok.encode(prompt, bos=True)
            ps.append(p)
            cs.append(fit(p, self.tok.encode(text, eos=done), self.max_len, strict))
        return TokenBatch(ps, cs)

    def token_logprobs(self, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
        logp, mask = completion_logprobs(self.model, batch.prompts, batch.completions,
                                         self.share_prompts)
        return logp, mask.float()

    def parameter_groups(self, weight_decay: float) -> list[dict[str, Any]]:
        return decay_groups(self.model, weight_decay)

    def copy(self, frozen: bool = False) -> NativePolicy:
        from ponder.lm.checkpoint import copy_weights

        out = copy_weights(self.model).train(self.model.training)
        if frozen:
            out.eval().requires_grad_(False)
        return NativePolicy(out, self.tok, self.share_prompts, self.compile)

    def save(self, path: str | Path, recipe: dict[str, Any] | None = None) -> Path:
        from ponder.lm.checkpoint import save_checkpoint

        return save_checkpoint(path, self.model, self.tok, recipe)

    def reopen(self, path: str | Path) -> NativePolicy:
        from ponder.lm.checkpoint import load_checkpoint

        model, tok, _ = load_checkpoint(path)
        return NativePolicy(model, tok, self.share_prompts, self.compile)

    def describe(self) -> dict[str, Any]:
        return {"kind": "native", **self.model.cfg.to_dict(),
                "params": self.model.num_params()}


def completion_nll(policy: TrainablePolicy, batch: TokenBatch) -> torch.Tensor:
    """Mean negative log-likelihood of the completion tokens of ``batch`` (prompts are
    context only): the supervised fine-tuning loss of any policy."""
    logp, mask = policy.token_logprobs(batch)
    mask = mask.to(logp.device)
    return -(logp * mask).sum() / mask.sum().clamp_min(1.0)


class ExampleBatches:
    """Fine-tuning batches for any policy: ``batch_size`` consecutive examples of the
    stream, encoded by the policy (whole completions, ending with its EOS token), padded
    per batch. The built-in model trains on packed rows instead (``ponder.train.loop``)."""

    layout = 0  # RunState.pack_len: unpacked

    def __init__(self, data: Any, policy: TrainablePolicy, batch_size: int):
        self.data, self.policy, self.batch_size = data, policy, batch_size
        self.flops_per_token = 6.0 * sum(p.numel() for p in policy.module.parameters())

    def fresh(self, state: Any) -> bool:
        return False  # no curriculum outside the built-in model's task mixtures

    def next(self, state: Any) -> TokenBatch:
        exs = [self.data[state.examples + i] for i in range(self.batch_size)]
        state.examples += self.batch_size
        return self.policy.encode([e.prompt for e in exs], [e.completion for e in exs],
                                  [True] * len(exs), strict=True)

    def flops(self, batch: TokenBatch) -> float:
        return self.flops_per_token * batch.n_tokens


def open_policy(spec: str | None, *, lora: int = 0, compile: bool = False
                ) -> tuple[TrainablePolicy, str]:
    """(policy, resolved path) for a ``--model`` string: ``hf:DIR`` is a transformers
    causal LM (``lora`` > 0: train rank-``lora`` adapters instead of every weight); else a
    ponder checkpoint or a training run holding one (default: the bundled model), whose
    decoding step ``compile`` compiles."""
    from ponder.errors import ConfigError

    if spec and spec.strip().startswith("hf:"):
        from ponder.train.hf_policy import HFPolicy

        if compile:
            raise ConfigError("--compile applies to ponder's own models, not hf: ones")
        path = spec.strip()[3:]
        return HFPolicy.load(path, lora=lora), str(Path(path).expanduser())
    if lora:
        raise ConfigError("--lora applies to hf: models; the built-in model trains in full")
    from ponder.lm.checkpoint import load_checkpoint, model_dir
    from ponder.lm.registry import default_model_path

    path = model_dir(spec) if spec else default_model_path()
    model, tok, _ = load_checkpoint(path)
    return NativePolicy(model, tok, compile=compile), str(path)
