"""Reward models on a transformers causal LM: its last hidden state, a zero-initialised
linear head, one logit per position, read where ``ponder.lm.reward`` reads ponder's own
(the token holding each step's last character for a PRM, the last token for an ORM).

Prompts are token ids as ``HFLM`` samples them (chat template, BOS rule), so a reward
model trained from a policy judges the texts that policy writes. A saved one is the body
(``save_pretrained``, loadable as a causal LM), its tokenizer, ``reward_head.safetensors``
and the kind in ``reward.json``; ``ponder.lm.reward.open_scorer`` opens either kind of
reward model directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

from ponder.errors import ModelError
from ponder.files import staged_dir
from ponder.lm.checkpoint import write_recipe
from ponder.lm.hf import HFLM, load_model
from ponder.lm.reward import RewardConfig, step_spans

HF_HEAD = "reward_head.safetensors"
KIND_FILE = "reward.json"


class HFRewardModel(nn.Module):
    """A transformers causal LM's body with a scalar head (see the module docstring)."""

    def __init__(self, body: Any, rcfg: RewardConfig | None = None):
        super().__init__()
        self.body, self.rcfg = body, rcfg or RewardConfig()
        self.head = nn.Linear(body.config.hidden_size, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.head.to(next(body.parameters()).device)

    def logits(self, idx: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        dev = self.head.weight.device
        out = self.body(input_ids=idx.to(dev),
                        attention_mask=None if mask is None else mask.to(dev),
                        output_hidden_states=True)
        return self.head(out.hidden_states[-1].to(self.head.weight.dtype)).squeeze(-1)

    def flops_per_token(self) -> float:
        return 2.0 * sum(p.numel() for p in self.body.parameters())


class HFEncoder:
    """(ids, head positions) of (prompt, completion) pairs for a transformers tokenizer:
    the prompt as ``HFLM`` encodes it, the completion with character offsets, so each
    step's last character is found in its token."""

    def __init__(self, lm: HFLM):
        self.lm, self.pad_id = lm, lm.pad_id

    def __call__(self, prompt: str, completion: str, kind: str) -> tuple[list[int], list[int]]:
        p = self.lm.prompt_ids(prompt)
        enc = self.lm.tokenizer(completion, add_special_tokens=False,
                                return_offsets_mapping=True)
        ids = p + list(enc["input_ids"])
        if kind == "orm" or not enc["input_ids"]:
            return ids, [len(ids) - 1]
        offsets = enc["offset_mapping"]
        positions = []
        for end, _ in step_spans(completion):
            # the token whose span holds the character, else the last one starting before
            t = max((i for i, (a, _) in enumerate(offsets) if a <= end), default=0)
            positions.append(len(p) + t)
        return ids, positions


def hf_reward_from_policy(policy: Any, kind: str) -> tuple[HFRewardModel, HFEncoder]:
    """A reward model starting from an ``HFPolicy``'s weights (copied), and its encoder."""
    import copy

    body = copy.deepcopy(policy.model)
    if hasattr(body, "merge_and_unload"):  # a LoRA policy: the reward model trains in full
        body = body.merge_and_unload()
    body.requires_grad_(True)
    return HFRewardModel(body, RewardConfig(kind)), HFEncoder(policy.lm())


def save_hf_reward_model(path: str | Path, model: HFRewardModel, encoder: HFEncoder,
                         recipe: dict | None = None) -> Path:
    with staged_dir(Path(path)) as tmp:
        model.body.save_pretrained(str(tmp))
        encoder.lm.tokenizer.save_pretrained(str(tmp))
        save_file({k: v.detach().cpu().contiguous() for k, v in model.head.state_dict().items()},
                  str(tmp / HF_HEAD))
        (tmp / KIND_FILE).write_text(json.dumps({"kind": model.rcfg.kind}))
        write_recipe(tmp, recipe)
    return Path(path)


def load_hf_reward_model(path: str | Path, device: str | None = None,
                         ) -> tuple[HFRewardModel, HFEncoder]:
    d = Path(path)
    if not (d / HF_HEAD).exists() or not (d / KIND_FILE).exists():
        raise ModelError(f"{d} is not a transformers reward model directory (needs "
                         f"{HF_HEAD} and {KIND_FILE})")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    body, tok = load_model(d, None, None, dev)
    model = HFRewardModel(body, RewardConfig(**json.loads((d / KIND_FILE).read_text())))
    model.head.load_state_dict(load_file(str(d / HF_HEAD)))
    return model.eval(), HFEncoder(HFLM(body, tok, device=str(dev)))
