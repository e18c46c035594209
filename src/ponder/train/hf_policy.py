"""Any transformers causal LM as a ``TrainablePolicy`` (``ponder.train.policy``): full
fine-tuning, or LoRA adapters through peft (``lora`` = rank).

Prompts are token ids exactly as ``HFLM`` samples them (chat template, BOS rule), and a
finished completion ends with the token the model stops on (the generation config's
first end-of-sequence id), so what is trained is what is sampled. Log-probabilities are
taken as ``logit[token] - logsumexp(logits)``, with the output layer run at the
completion positions only (``ponder.lm.hf.completion_logprobs``, shared with
``HFLM.logprobs``), and a prompt that several rows repeat (a group's samples) runs
once, its key/value cache shared by those rows, in the forward and the backward pass. A
saved policy is a plain ``save_pretrained`` directory (LoRA merged into the weights, so
every ``hf:`` command loads it; the adapters alone are kept in its ``adapter/``
folder), written to a temporary sibling and renamed into place
(``ponder.files.staged_dir``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ponder.errors import ConfigError
from ponder.files import staged_dir
from ponder.lm.base import LM
from ponder.lm.checkpoint import write_recipe
from ponder.lm.hf import HFLM, completion_logprobs, load_model
from ponder.train.policy import decay_groups, fit
from ponder.train.rollout import TokenBatch

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def with_lora(model: Any, rank: int, alpha: float | None = None) -> Any:
    """``model`` with rank-``rank`` LoRA adapters on its attention and MLP projections
    (only the adapters train); needs ``pip install peft``."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise ConfigError("--lora needs peft: pip install 'ponder[lora]'") from None
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    targets = [t for t in LORA_TARGETS if t in names]
    if not targets:
        raise ConfigError(f"no LoRA target among the model's modules (looked for "
                          f"{list(LORA_TARGETS)})")
    cfg = LoraConfig(r=rank, lora_alpha=alpha or 2 * rank, target_modules=targets,
                     lora_dropout=0.0, task_type="CAUSAL_LM")
    return get_peft_model(model, cfg)


class HFPolicy:
    """A transformers causal LM and its tokenizer, trained in place."""

    def __init__(self, model: Any, tokenizer: Any, *, lora: int = 0, source: str = "",
                 share_prompts: bool = True):
        self.share_prompts = share_prompts  # False: every row runs its own prompt
        self.model = with_lora(model, lora) if lora else model
        self.module = self.model
        self.tokenizer, self.lora, self.source = tokenizer, lora, source
        self._sampler = HFLM(self.model, tokenizer, device=str(self.device))
        self.max_len = self._sampler.max_context
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        if isinstance(gen_eos, list):
            gen_eos = gen_eos[0] if gen_eos else None
        self.eos_id = gen_eos if gen_eos is not None else tokenizer.eos_token_id
        if self.eos_id is None:
            raise ConfigError("the tokenizer names no end-of-sequence token; a policy must "
                              "be able to learn when to stop")

    @classmethod
    def load(cls, path: str | Path, *, lora: int = 0, device: str | None = None,
             share_prompts: bool = True) -> HFPolicy:
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        model, tok = load_model(Path(path).expanduser(), None, None, dev)
        return cls(model, tok, lora=lora, source=str(path), share_prompts=share_prompts)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def lm(self) -> LM:
        return self._sampler  # samples from self.model, whose weights the trainer updates

    def encode(self, prompts: Sequence[str], completions: Sequence[str],
               finished: Sequence[bool], strict: bool = False) -> TokenBatch:
        ps, cs = [], []
        for prompt, text, done in zip(prompts, completions, finished, strict=True):
            p = self._sampler.prompt_ids(prompt)
            c = self.tokenizer.encode(text, add_special_tokens=False) + \
                ([self.eos_id] if done else [])
            ps.append(p)
            cs.append(fit(p, c, self.max_len, strict))
        return TokenBatch(ps, cs)

    def token_logprobs(self, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
        return completion_logprobs(self.model, batch.prompts, batch.completions,
                                   self._sampler.pad_id, self.share_prompts)

    def parameter_groups(self, weight_decay: float) -> list[dict[str, Any]]:
        return decay_groups(self.model, weight_decay)

    def copy(self, frozen: bool = False) -> HFPolicy:
        out = copy.deepcopy(self.model)  # adapters and all, if any
        if frozen:
            out.eval().requires_grad_(False)
        twin = HFPolicy(out, self.tokenizer, source=self.source,
                        share_prompts=self.share_prompts)
        twin.lora = self.lora
        return twin

    def save(self, path: str | Path, recipe: dict[str, Any] | None = None) -> Path:
        with staged_dir(Path(path)) as tmp:
            model = self.model
            if hasattr(model, "merge_and_unload"):  # a peft model (or a frozen copy of one)
                model.save_pretrained(str(tmp / "adapter"))
                model = copy.deepcopy(model).merge_and_unload()
            model.save_pretrained(str(tmp))
            self.tokenizer.save_pretrained(str(tmp))
            write_recipe(tmp, recipe)
        return Path(path)

    def reopen(self, path: str | Path) -> HFPolicy:
        return HFPolicy.load(path, device=str(self.device))

    def describe(self) -> dict[str, Any]:
        params = sum(p.numel() for p in self.model.parameters())
        trained = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        return {"kind": "hf", "source": self.source, "lora": self.lora,
                "architecture": type(self.model.get_base_model()
                                     if hasattr(self.model, "get_base_model")
                                     else self.model).__name__,
                "params": params, "trainable_params": trained}
