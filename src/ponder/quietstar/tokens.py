"""Learned start-of-thought, end-of-thought and pause tokens (Quiet-STaR §4.2, "meta-tokens").

The three tokens are appended to the vocabulary after every existing id, so ids a model
already knows keep their meaning: for the built-in character tokenizer (101 ids) they
are 101, 102 and 103; for a Hugging Face model they follow its embedding table. Their
embeddings are initialised, as in the paper, to the embedding of the first token of
``"---"`` (a dash often marks a pause in text; the paper uses the em dash), and are
trained with a larger learning rate (``TrainConfig.meta_lr_mult``; the reference code
reaches the same end by scaling their parametrisation by 100 under Adam).

Departure: the rows live in a separate ``MetaEmbeddings`` module rather than in the
model's embedding table, and the output head gets no rows for them, so a model never
*predicts* a meta token (the paper's code leaves them in the softmax and has to mask
them out when generating). The base model's weights and checkpoint format are untouched.
The pause token only serves the "pause tokens" control (filler thoughts of the same
length, Goyal et al. 2023); it is initialised from ``"."``.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import torch
import torch.nn as nn

from ponder.lm.tokenizer import CharTokenizer

START, END, PAUSE = "<|startofthought|>", "<|endofthought|>", "<|pause|>"
META = (START, END, PAUSE)
INIT_TEXT = {START: "---", END: "---", PAUSE: "."}


class Codec(Protocol):
    """Text <-> ids for one model, meta tokens included."""

    bos_id: int | None
    eos_id: int | None
    pad_id: int
    meta_base: int  # id of START; END and PAUSE follow

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


class ThoughtCharTokenizer(CharTokenizer):
    """The built-in character tokenizer with the meta tokens appended (ids 101..103):
    every existing id is unchanged; the meta strings encode to their single ids."""

    def __init__(self) -> None:
        super().__init__()
        self.meta_base = len(self.itos)
        self.itos = [*self.itos, *META]
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        self._meta_re = re.compile("(" + "|".join(re.escape(s) for s in META) + ")")

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        ids = [self.bos_id] if bos else []
        for part in self._meta_re.split(text):
            ids.extend([self.stoi[part]] if part in META else super().encode(part))
        return ids + ([self.eos_id] if eos else [])

    @property
    def text_vocab_size(self) -> int:
        """Ids a text token may take (the model's output head covers these)."""
        return self.meta_base


class HFCodec:
    """A transformers tokenizer; meta ids follow the model's embedding table and are
    decoded by name (the tokenizer itself is not changed)."""

    def __init__(self, tokenizer: Any, n_embeddings: int):
        self.tok, self.meta_base = tokenizer, n_embeddings
        self.bos_id = tokenizer.bos_token_id
        self.eos_id = tokenizer.eos_token_id
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (self.eos_id or 0)

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        ids = self.tok.encode(text, add_special_tokens=False)
        head = [self.bos_id] if bos and self.bos_id is not None else []
        return head + ids + ([self.eos_id] if eos and self.eos_id is not None else [])

    def decode(self, ids: list[int]) -> str:
        out, run = [], []
        for i in ids:
            if i >= self.meta_base:
                out.append(self.tok.decode(run))
                out.append(META[i - self.meta_base])
                run = []
            else:
                run.append(i)
        return "".join([*out, self.tok.decode(run)])


class MetaEmbeddings(nn.Module):
    """Embeddings of START, END and PAUSE: a (3, C) parameter."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(len(META), hidden_size))

    @torch.no_grad()
    def init_from(self, embed: nn.Module, codec: Codec) -> None:
        """Each row := the embedding of the first token of its ``INIT_TEXT``."""
        for k, name in enumerate(META):
            first = codec.encode(INIT_TEXT[name])[0]
            self.weight[k] = embed(torch.tensor([first], device=self.weight.device))[0]


def embed_ids(ids: torch.Tensor, embed: nn.Module, meta: MetaEmbeddings,
              meta_base: int) -> torch.Tensor:
    """(B, T) ids -> (B, T, C): text ids through ``embed``, meta ids from ``meta``."""
    is_meta = ids >= meta_base
    x = embed(ids.masked_fill(is_meta, 0))
    if not bool(is_meta.any()):
        return x
    rows = meta.weight[(ids - meta_base).clamp(min=0)].to(x.dtype)  # (B, T, C)
    return torch.where(is_meta[..., None], rows, x)
