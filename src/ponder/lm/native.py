"""The native backend: ponder's built-in decoder behind the LM protocol.

Prompts are encoded with BOS prepended; a completion ends at EOS (not part of its text,
but counted in its tokens), at a stop string (kept in the text) or at its token budget.
A prompt that alone fills the model's context raises ``InvalidInput``; a budget that only
runs past the context is clipped to the room left, and such a completion ends with
finish reason "length". Samples are seeded from ``(seed, prompt, sample index)``, as
``HFLM``'s are, so a sample does not depend on the rest of the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ponder.errors import InvalidInput, ModelError
from ponder.lm.base import Completion
from ponder.lm.checkpoint import load_checkpoint
from ponder.lm.model import Transformer
from ponder.lm.sampler import Sampler, completion_logprobs
from ponder.lm.sampling import check_generate_args, row_seed
from ponder.lm.tokenizer import CharTokenizer


class NativeLM:
    """A ``Transformer`` and its ``CharTokenizer`` as an LM (and a ``TrainableLM``).

    The model is used as is, not copied: weight updates (e.g. by an RL trainer holding
    the same model) show in the next ``generate``. ``max_batch`` bounds the rows
    (prompts × samples) decoded or scored together. ``generate`` may be called from many
    threads at once: the sampler's engine decodes their rows together. ``kv_dtype`` is
    the sampler's key/value cache type (``"float32"`` or ``"bfloat16"``); ``compile``
    compiles its decoding step (``ponder.lm.fused``).
    """

    thread_safe = True

    def __init__(self, model: Transformer, tokenizer: CharTokenizer, name: str = "native",
                 max_batch: int = 256, kv_dtype: str = "float32", compile: bool = False,
                 trace_styles: dict[str, str] | None = None):
        if model.cfg.vocab_size < tokenizer.vocab_size:
            raise ModelError(f"model vocabulary ({model.cfg.vocab_size}) is smaller than the "
                             f"tokenizer's ({tokenizer.vocab_size})")
        self.model, self.tokenizer, self.name = model, tokenizer, name
        self.sampler = Sampler(model, tokenizer, max_batch=max_batch, kv_dtype=kv_dtype,
                               compile=compile)
        self.max_context: int = model.cfg.max_seq_len
        # at the model's typical context (half its maximum); exact per-completion FLOPs
        # are in each Completion
        self.flops_per_token: float = model.flops_per_token()
        #: the trace style per task the model was trained to write, where not the
        #: task's default (from its recipe); evaluation sizes its token caps by it
        self.trace_styles: dict[str, str] = dict(trace_styles or {})

    @classmethod
    def from_checkpoint(cls, path: str | Path, *, device: str = "cpu", name: str | None = None,
                        max_batch: int = 256, kv_dtype: str = "float32",
                        compile: bool = False) -> NativeLM:
        model, tok, recipe = load_checkpoint(path, device=device)
        sft = recipe.get("sft") if isinstance(recipe, dict) else None
        styles = sft.get("styles") if isinstance(sft, dict) else None
        return cls(model, tok, name=name or f"native:{path}", max_batch=max_batch,
                   kv_dtype=kv_dtype, compile=compile,
                   trace_styles=styles if isinstance(styles, dict) else None)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text))

    def _encode(self, text: str, what: str, bos: bool) -> list[int]:
        try:
            return self.tokenizer.encode(text, bos=bos)
        except InvalidInput as e:
            raise InvalidInput(f"{what}: {e}") from None

    def generate(self, prompts: list[str], n: int = 1, max_tokens: int | list[int] = 256,
                 temperature: float = 1.0, top_p: float = 1.0, stop: list[str] | None = None,
                 seed: int | None = None) -> list[list[Completion]]:
        """For each prompt, ``n`` completions; see the module docstring for semantics."""
        limits = check_generate_args(prompts, n, max_tokens, temperature, top_p)
        if isinstance(stop, str):
            raise InvalidInput("stop must be a list of strings, not a single string")
        ids = [self._encode(p, f"prompt {i}", bos=True) for i, p in enumerate(prompts)]
        for i, p in enumerate(ids):
            if len(p) >= self.max_context:
                raise InvalidInput(f"prompt {i} is {len(p)} tokens (BOS included), which leaves "
                                   f"no room in the model's context of {self.max_context}; "
                                   "shorten it")
        limits = [min(m, self.max_context - len(p)) for m, p in zip(limits, ids, strict=True)]
        if seed is None:  # still follows torch.manual_seed, for scripts that set it
            seed = int(torch.randint(0, 2**62, ()).item())
        seeds = [row_seed(seed, p, j) for p in prompts for j in range(n)]
        return self.sampler.generate(ids, n=n, max_tokens=limits, temperature=temperature,
                                     top_p=top_p, stop=list(stop or []), seeds=seeds)

    def logprobs(self, prompts: list[str], completions: list[str]) -> list[list[float]]:
        """Per-token log-probs of each completion given its prompt (teacher forcing), the
        numbers ``generate`` reports for the same tokens."""
        p_ids, c_ids = self.encode_pairs(prompts, completions)
        order = sorted(range(len(p_ids)), key=lambda i: len(p_ids[i]) + len(c_ids[i]))
        out: list[list[float]] = [[] for _ in p_ids]
        step = self.sampler.max_batch
        with torch.inference_mode():
            for start in range(0, len(order), step):  # similar lengths together: less padding
                chunk = order[start:start + step]
                lp, _ = completion_logprobs(self.model, [p_ids[i] for i in chunk],
                                            [c_ids[i] for i in chunk])
                for i, row in zip(chunk, lp.tolist(), strict=True):
                    out[i] = row[: len(c_ids[i])]
        return out

    def encode_pairs(self, prompts: Sequence[str], completions: Sequence[str]
                     ) -> tuple[list[list[int]], list[list[int]]]:
        """Token ids of (BOS + prompt, completion) pairs, checked against the context, for
        trainers that call ``completion_logprobs`` with gradients."""
        if isinstance(prompts, str) or isinstance(completions, str):
            raise InvalidInput("prompts and completions must be lists of strings")
        if len(prompts) != len(completions):
            raise InvalidInput(f"{len(prompts)} prompts but {len(completions)} completions")
        p_ids = [self._encode(p, f"prompt {i}", bos=True) for i, p in enumerate(prompts)]
        c_ids = [self._encode(c, f"completion {i}", bos=False) for i, c in enumerate(completions)]
        for i, (p, c) in enumerate(zip(p_ids, c_ids, strict=True)):
            if len(p) + len(c) > self.max_context:
                raise InvalidInput(f"prompt {i} + completion is {len(p) + len(c)} tokens, more "
                                   f"than the model's context of {self.max_context}")
        return p_ids, c_ids
