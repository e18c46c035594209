"""Reward models: ponder's decoder with a scalar head, read at chosen positions.

One architecture serves both kinds (Lightman et al. 2023; Uesato et al. 2022):
- an ORM scores a whole solution: the head is read at the last token;
- a PRM scores every step: the head is read at the newline that ends each step.

A *step* is a non-empty line of the hidden thinking; a finished completion's answer line
counts as its last step, so "last" aggregation of a PRM judges the final answer. Scores
are probabilities (sigmoid of the head) that the solution so far is on a correct path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ponder.errors import ModelError
from ponder.lm.checkpoint import (
    TIED_HEAD,
    hf_config,
    load_weights,
    model_config,
    read_json,
    save_model_dir,
)
from ponder.lm.model import ModelConfig, Transformer
from ponder.lm.sampling import pad_right
from ponder.lm.template import THINK_CLOSE
from ponder.lm.tokenizer import CharTokenizer

KINDS = ("prm", "orm")
TIED_BODY_HEAD = f"body.{TIED_HEAD}"  # the policy's output head: tied, and unused here


def step_spans(completion: str) -> list[tuple[int, str]]:
    """``(end_char_index, line)`` for each step of a completion: the index of the last
    character of the step line (its newline when present). Steps are the non-empty
    thinking lines and, once thinking is closed, the answer line.

    >>> step_spans("a=1\\nb=2\\n</think>\\nAnswer: 2")
    [(3, 'a=1'), (7, 'b=2'), (25, 'Answer: 2')]
    >>> step_spans("a=1\\nb=")  # unfinished last line still counts as a step
    [(3, 'a=1'), (5, 'b=')]
    """
    out: list[tuple[int, str]] = []
    head, sep, tail = completion.partition(THINK_CLOSE)
    pos = 0
    for line in head.split("\n"):
        end = pos + len(line)  # index of the newline after the line (or text end)
        if line.strip():
            out.append((min(end, len(head) - 1), line))
        pos = end + 1
    if sep:
        answer = tail.strip("\n")
        if answer:
            out.append((len(completion) - 1, answer.splitlines()[-1]))
    return out


@dataclass
class RewardConfig:
    kind: str = "prm"  # "prm" (per step) or "orm" (per solution)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ModelError(f"reward model kind must be one of {KINDS}, got {self.kind!r}")


class RewardModel(nn.Module):
    """Transformer backbone + linear head giving one logit per position."""

    def __init__(self, cfg: ModelConfig, rcfg: RewardConfig | None = None):
        super().__init__()
        self.cfg, self.rcfg = cfg, rcfg or RewardConfig()
        self.body = Transformer(cfg)
        self.head = nn.Linear(cfg.d_model, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    @classmethod
    def from_policy(cls, policy: Transformer, rcfg: RewardConfig | None = None) -> RewardModel:
        """Start from the policy's weights: it already reads the task's language."""
        rm = cls(policy.cfg, rcfg)
        rm.body.load_state_dict(policy.state_dict())
        return rm

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits (B, T): one per position."""
        return self.head(self.body.hidden(idx)).squeeze(-1)

    def logits(self, idx: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``forward``; right padding needs no mask in a causal model."""
        return self(idx)

    def flops_per_token(self) -> float:
        return self.body.flops_per_token()


def encode_for_scoring(tok: CharTokenizer, prompt: str, completion: str, kind: str,
                       ) -> tuple[list[int], list[int]]:
    """Token ids of bos+prompt+completion and the positions the head is read at."""
    p = tok.encode(prompt, bos=True)
    ids = p + tok.encode(completion)
    if kind == "orm":
        return ids, [len(ids) - 1]
    # a step ends at a character; read the head at the token holding that character
    # (characters and tokens align one-to-one except inside special tokens)
    owner: dict[int, int] = {}
    start = 0
    for ti, end in enumerate(tok.token_ends(completion)):
        for ci in range(start, end + 1):
            owner[ci] = len(p) + ti
        start = end + 1
    return ids, [owner[end] for end, _ in step_spans(completion)]


class CharEncoder:
    """(ids, head positions) of (prompt, completion) pairs for ponder's own models."""

    def __init__(self, tok: CharTokenizer):
        self.tok, self.pad_id = tok, tok.pad_id

    def __call__(self, prompt: str, completion: str, kind: str) -> tuple[list[int], list[int]]:
        return encode_for_scoring(self.tok, prompt, completion, kind)


class RewardScorer:
    """A trained reward model as a scorer for search (OutcomeScorer and StepScorer):
    ponder's ``RewardModel`` with its tokenizer, or any model whose ``logits(ids, mask)``
    gives one logit per position with an ``encoder`` (``ponder.lm.hf_reward``)."""

    def __init__(self, model: nn.Module, tok: CharTokenizer | Any, batch_size: int = 64):
        self.model, self.batch_size = model.eval(), batch_size
        self.encode = CharEncoder(tok) if isinstance(tok, CharTokenizer) else tok
        self.flops_per_token = model.flops_per_token()
        self.kind = model.rcfg.kind

    @torch.inference_mode()
    def _scores(self, prompts: list[str], completions: list[str], kind: str) -> list[list[float]]:
        out: list[list[float]] = []
        for i in range(0, len(prompts), self.batch_size):
            enc = [self.encode(p, c, kind)
                   for p, c in zip(prompts[i:i + self.batch_size],
                                   completions[i:i + self.batch_size], strict=True)]
            idx, mask = pad_right([ids for ids, _ in enc], self.encode.pad_id)
            probs = torch.sigmoid(self.model.logits(idx, mask)).float().cpu()
            out.extend([probs[r, pos].tolist() for r, (_, pos) in enumerate(enc)])
        return out

    def score_steps(self, prompts: list[str], completions: list[str]) -> list[list[float]]:
        return self._scores(prompts, completions, "prm")

    def score(self, prompts: list[str], completions: list[str]) -> list[float]:
        if self.kind == "orm":
            return [s[0] for s in self._scores(prompts, completions, "orm")]
        # a PRM judges a whole solution by its last step (Snell et al. found "last" best)
        return [s[-1] if s else 0.0 for s in self.score_steps(prompts, completions)]

    def tokens(self, prompts: list[str], completions: list[str]) -> int:
        """Tokens read when scoring, for compute accounting."""
        return sum(1 + len(p) + len(c) for p, c in zip(prompts, completions, strict=True))


def save_reward_model(path: str | Path, model: RewardModel, tok: CharTokenizer,
                      recipe: dict | None = None) -> Path:
    """Write a reward model directory: a checkpoint of its body plus the head, with the
    kind under ``ponder_reward`` in its config."""
    config = {**hf_config(model.cfg, tok), "ponder": model.cfg.to_dict(),
              "ponder_reward": {"kind": model.rcfg.kind}}
    return save_model_dir(path, config, model.state_dict(), tok, recipe, TIED_BODY_HEAD)


def open_scorer(path: str | Path) -> RewardScorer:
    """The reward model saved in ``path`` as a scorer: ponder's own
    (``save_reward_model``) or one on a transformers model (``ponder.lm.hf_reward``)."""
    from ponder.lm.hf_reward import HF_HEAD, load_hf_reward_model

    if (Path(path) / HF_HEAD).exists():
        return RewardScorer(*load_hf_reward_model(path))
    return RewardScorer(*load_reward_model(path))


def save_scorer(path: str | Path, scorer: RewardScorer, recipe: dict | None = None) -> Path:
    """Write a trained reward model (either kind, see ``open_scorer``) to ``path``."""
    if isinstance(scorer.encode, CharEncoder):
        return save_reward_model(path, scorer.model, scorer.encode.tok, recipe)
    from ponder.lm.hf_reward import save_hf_reward_model

    return save_hf_reward_model(path, scorer.model, scorer.encode, recipe)


def load_reward_model(path: str | Path) -> tuple[RewardModel, CharTokenizer]:
    """(reward model in eval mode, tokenizer) from a directory of ``save_reward_model``;
    anything else (a policy, a corrupt file) raises ModelError."""
    d = Path(path)
    if not (d / "config.json").exists():
        raise ModelError(f"{d} is not a reward model directory (no config.json)")
    config = read_json(d / "config.json")
    if not isinstance(config, dict) or "ponder" not in config:
        raise ModelError(f"{d}/config.json is not a ponder model config")
    if "ponder_reward" not in config:
        raise ModelError(f"{d} is a policy checkpoint, not a reward model; train one with "
                         "`ponder prm train`")
    try:
        rcfg = RewardConfig(**config["ponder_reward"])
    except TypeError as e:  # not a mapping, or unknown fields
        raise ModelError(f"{d}/config.json: bad ponder_reward section: {e}") from None
    model = RewardModel(model_config(d, config["ponder"]), rcfg)
    load_weights(model, d, TIED_BODY_HEAD)
    return model.eval(), CharTokenizer.load(d)
