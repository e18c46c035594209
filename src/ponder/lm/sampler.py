"""Batched sampling and teacher-forced scoring for ponder's built-in decoder.

Search strategies draw thousands of samples, so generation is organised around what is
slow on a CPU at this model size — the number of tensor operations per step, not the
arithmetic in them:

- decoding runs through ``FusedDecoder`` (the model's math with fused weights, cos/sin
  tables built once, a preallocated cache);
- every call goes to the sampler's ``Engine`` (``ponder.lm.engine``), which batches the
  rows of all concurrent calls continuously: each distinct prompt admitted at once is
  prefilled once and its cache rows copied to its samples, rows write the same cache
  slot at each step (a slice copy, no scatter) with a boolean mask over the slots each
  row holds, and finished rows make room for waiting ones between two steps;
- random draws are Gumbel-max over noise drawn in blocks from one ``torch.Generator`` per
  sample, seeded by the caller, so a sample depends on its seed and not on which other
  rows share the batch (up to floating-point ties).

Log-probs are those of the model's own distribution (temperature 1, no nucleus cut), the
numbers ``completion_logprobs`` gives by teacher forcing, as RL importance ratios need.
Token ids in, ``Completion`` out; text-level checks (vocabulary, context length, seeds from
prompts) live in ``ponder.lm.native``; the nucleus, the stop cut and the argument checks
are those every backend shares, from ``ponder.lm.sampling``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from ponder.errors import InvalidInput
from ponder.lm import layout
from ponder.lm.base import Completion
from ponder.lm.digits import digit_runs, trailing_run
from ponder.lm.engine import Engine, Request
from ponder.lm.fused import FusedDecoder
from ponder.lm.model import Context, Transformer
from ponder.lm.sampling import check_generate_args, stop_cut
from ponder.lm.tokenizer import CharTokenizer

KV_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


class Sampler:
    """Generates from ``model`` with ``tokenizer``'s special tokens and token texts.

    ``max_batch`` bounds the rows (prompts × samples) decoded together; fewer are taken
    when their key/value cache (rows × layers × 2 × (prompt + new tokens) × d_model
    floats) would exceed ``cache_bytes``. Up to ``prefix_bytes`` of finished sequences'
    keys/values are kept, so a prompt that continues one (the next step of a search) runs
    only its new tokens through the model; FLOPs are still accounted as if the whole
    prompt were prefilled, so records do not depend on what the cache held.
    ``kv_dtype`` is the cache's type: ``"float32"``, or ``"bfloat16"`` for half the bytes
    per decoding step (see ``FusedDecoder``). ``compile`` runs decoding steps through
    ``torch.compile`` (``ponder.lm.fused``): faster once compiled, seconds to compile.
    """

    def __init__(self, model: Transformer, tokenizer: CharTokenizer, max_batch: int = 256,
                 cache_bytes: int = 512 * 2**20, prefix_bytes: int = 256 * 2**20,
                 kv_dtype: str = "float32", compile: bool = False):
        if max_batch < 1:
            raise InvalidInput(f"max_batch must be at least 1, got {max_batch}")
        if kv_dtype not in KV_DTYPES:
            raise InvalidInput(f"kv_dtype must be one of {', '.join(KV_DTYPES)}, "
                               f"got {kv_dtype!r}")
        self.kv_dtype = KV_DTYPES[kv_dtype]
        self.kv_itemsize = self.kv_dtype.itemsize  # bytes per cached key/value number
        self.compile = compile
        self.model, self.tokenizer = model, tokenizer
        self.max_batch, self.cache_bytes, self.prefix_bytes = max_batch, cache_bytes, prefix_bytes
        self.pieces = list(tokenizer.itos)  # token id -> its text
        self.prefill_tokens = 0  # prompt tokens run through the model, for accounting tests
        self._decoder: FusedDecoder | None = None
        self._weights_key: tuple = ()
        self._flops = (0.0, 0.0)  # FLOPs per token at context 0, and per context token
        self.engine = Engine(self)  # every generate() goes through it, from any thread

    def decoder(self) -> FusedDecoder:
        """The fused snapshot of the current weights, rebuilt when any parameter has been
        replaced or modified in place (as optimizer steps do) since it was built."""
        key = tuple((p.data_ptr(), p._version) for p in self.model.parameters())
        if self._decoder is None or key != self._weights_key:
            with torch.no_grad():
                self._decoder = FusedDecoder(self.model, self.kv_dtype, self.compile)
            self._weights_key = key
        return self._decoder

    def generate(self, prompts: Sequence[Sequence[int]], n: int = 1,
                 max_tokens: int | Sequence[int] = 256, temperature: float = 1.0,
                 top_p: float = 1.0, stop: Sequence[str] = (),
                 seeds: Sequence[int] | None = None,
                 ignore_eos: bool = False) -> list[list[Completion]]:
        """For each prompt (token ids, BOS included if wanted), ``n`` completions.

        ``seeds`` holds one seed per sample, sample ``j`` of prompt ``i`` at ``i * n + j``
        (drawn from torch's global generator when None). ``tokens`` counts every sampled
        token, EOS included; ``text`` excludes EOS and ends right after the stop string
        that ended it. FLOPs follow ``model.flops_per_token`` at each token's context; a
        prompt's prefill is shared by the samples that reuse it. ``ignore_eos`` keeps
        sampling past EOS (for benchmarks that need a fixed number of tokens). Safe to
        call from many threads at once: their rows are batched together.
        """
        limits = check_generate_args(prompts, n, max_tokens, temperature, top_p)
        self._check(prompts, limits, stop)
        if seeds is None:
            seeds = torch.randint(0, 2**62, (len(prompts) * n,)).tolist()
        elif len(seeds) != len(prompts) * n:
            raise InvalidInput(f"need {len(prompts) * n} seeds (one per sample), got {len(seeds)}")
        stop = tuple(s for s in stop if s)
        eos = -1 if ignore_eos else self.tokenizer.eos_id
        requests = [[Request(tuple(p), limits[i], int(seeds[i * n + j]), temperature, top_p,
                             stop, eos) for j in range(n)] for i, p in enumerate(prompts)]
        # longest prompts first and identical prompts together: rows admitted at once
        # have similar lengths (little padding) and share their prompt's prefill
        first: dict[tuple[int, ...], int] = {}
        for i, p in enumerate(prompts):
            first.setdefault(tuple(p), i)
        order = sorted(range(len(prompts)),
                       key=lambda i: (-len(prompts[i]), first[tuple(prompts[i])], i))
        self.engine.submit([q for i in order for q in requests[i]])
        return [[q.future.result() for q in row] for row in requests]

    def _check(self, prompts: Sequence[Sequence[int]], limits: list[int],
               stop: Sequence[str]) -> None:
        if isinstance(stop, str):
            raise InvalidInput("stop must be a list of strings, not a single string")
        ctx = self.model.cfg.max_seq_len
        for i, (p, m) in enumerate(zip(prompts, limits, strict=True)):
            if not p:
                raise InvalidInput(f"prompt {i} is empty; start it with the BOS token")
            if len(p) + m > ctx:
                raise InvalidInput(f"prompt {i} ({len(p)} tokens) + max_tokens ({m}) exceeds "
                                   f"the model's context of {ctx} tokens")

    def _prefill(self, dec: FusedDecoder, prompts: list[tuple[int, ...]],
                 new_cache: Callable[..., list[torch.Tensor]] | None = None
                 ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor, torch.Tensor | None]:
        """Run the prompts, left-padded to a common length P, into a cache of P slots.
        Returns the next-token logits (U, V), the cache, each prompt's length (U,) and,
        if any prompt is padded, the (U, P) mask of cache slots holding real tokens.
        ``new_cache(batch, width, zero)`` makes the cache (default: ``dec.new_cache``)."""
        device = dec.embed.device
        lens = torch.tensor([len(p) for p in prompts], device=device)
        P = int(lens.max())
        pad = P - lens  # (U,)
        ids = torch.full((len(prompts), P), self.tokenizer.pad_id, device=device)
        for u, p in enumerate(prompts):
            ids[u, P - len(p):] = torch.tensor(p, device=device)
        slots = torch.arange(P, device=device)
        real = slots[None, :] >= pad[:, None]  # (U, P)
        padded = bool((pad > 0).any())
        # causal over real tokens; a padding query attends to itself, as a query that sees
        # nothing would give NaN
        causal = slots[None, :P] <= slots[:P, None]  # (P, P)
        diag = torch.eye(P, dtype=torch.bool, device=device)
        positions = (slots[None, :P] - pad[:, None]).clamp(min=0)  # (U, P)
        # every slot is written below
        cache = (new_cache or dec.new_cache)(len(prompts), P, zero=False)
        logits = []
        group = max(1, layout.PREFILL_TOKENS // P)
        for g in range(0, len(prompts), group):  # groups write into views of the cache
            rows = slice(g, g + group)
            mask = (causal & (real[rows, None, :P] | diag))[:, None] if padded else None
            logits.append(dec(ids[rows], positions[rows], dec.cache_rows(cache, rows), 0,
                               mask))
        self.prefill_tokens += int(lens.sum())
        return torch.cat(logits), cache, lens, real if padded else None

    def _stopped(self, toks: list[int], stop: list[str]) -> bool:
        """Whether a stop string ends inside the last token's text. Every token has at
        least one character, so the last ``len(s)`` tokens hold any such occurrence."""
        longest = max(len(s) for s in stop)
        tail = "".join(self.pieces[i] for i in toks[-longest:])
        new = len(tail) - len(self.pieces[toks[-1]])  # where the last token's text starts
        return any(tail.find(s, max(0, new - len(s) + 1)) >= 0 for s in stop)

    def _completion(self, prompt_len: int, toks: list[int], lps: list[float],
                    reason: str, stop: list[str], share: int) -> Completion:
        body = toks[:-1] if reason == "eos" else toks
        text = "".join(self.pieces[i] for i in body)
        if reason == "stop":
            text = text[: stop_cut(text, stop)]
        f0, per_ctx = self._flops
        g = len(toks)
        # each token costs f0 + per_ctx * (its context); a run of tokens costs its length
        # times that at its mean context
        prefill = prompt_len * (f0 + per_ctx * (prompt_len + 1) / 2)
        flops = prefill / share + g * (f0 + per_ctx * (prompt_len + (g + 1) / 2))
        return Completion(text=text, prompt_tokens=prompt_len, tokens=g, logprob=float(sum(lps)),
                          token_logprobs=lps, finish_reason=reason, flops=flops)


# -- teacher forcing ---------------------------------------------------------------------


def completion_logprobs(model: Transformer, prompts: Sequence[Sequence[int]],
                        completions: Sequence[Sequence[int]], share_prompts: bool = True
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probs (B, C) of each completion given its prompt, by teacher forcing
    through ``model.forward``'s path (differentiable: RL losses backpropagate through it),
    and the (B, C) mask of real tokens; padding entries are 0. Prompts must be non-empty
    (include BOS); to score a sample that ended with EOS, append the EOS id.

    With ``share_prompts``, rows that repeat a prompt (the G samples of one problem in
    GRPO) run it once: the distinct prompts go through the model first, keeping each
    layer's keys and values, and the completions then attend to their prompt's
    (``ponder.lm.model.Context``); values and gradients equal the unshared pass's up to
    rounding."""
    if len(prompts) != len(completions):
        raise InvalidInput(f"{len(prompts)} prompts but {len(completions)} completions")
    if any(not p for p in prompts):
        raise InvalidInput("every prompt needs at least one token (BOS)")
    device = model.lm_head.weight.device
    B = len(prompts)
    C = max((len(c) for c in completions), default=0)
    T = max((len(p) + len(c) for p, c in zip(prompts, completions, strict=True)), default=1)
    if T > model.cfg.max_seq_len:
        raise InvalidInput(f"a prompt + completion of {T} tokens exceeds the model's context "
                           f"of {model.cfg.max_seq_len}")
    mask = torch.arange(C, device=device)[None] < torch.tensor(
        [len(c) for c in completions], device=device)[:, None]  # (B, C)
    if C == 0:
        return torch.zeros((B, 0), device=device), mask
    firsts: dict[tuple[int, ...], int] = {}
    row_of = [firsts.setdefault(tuple(p), len(firsts)) for p in prompts]
    if share_prompts and len(firsts) < B:
        h = _shared_prompt_hidden(model, list(firsts), row_of, completions, C)
    else:
        h = _joint_hidden(model, prompts, completions, C, T)
    targets = torch.zeros((B, C), dtype=torch.long)
    for b, c in enumerate(completions):
        targets[b, : len(c)] = torch.tensor(c, dtype=torch.long)
    logp = F.log_softmax(model.lm_head(h).float(), dim=-1)  # (B, C, V)
    lp = logp.gather(-1, targets.to(device)[..., None]).squeeze(-1)
    return lp.masked_fill(~mask, 0.0), mask


def _joint_hidden(model: Transformer, prompts: Sequence[Sequence[int]],
                  completions: Sequence[Sequence[int]], C: int, T: int) -> torch.Tensor:
    """Hidden states (B, C, d) that predict each completion token, from one pass over
    right-padded prompt + completion rows (causal attention ignores the padding)."""
    device = model.lm_head.weight.device
    B = len(prompts)
    ids = torch.zeros((B, T), dtype=torch.long)
    for b, (p, c) in enumerate(zip(prompts, completions, strict=True)):
        ids[b, : len(p) + len(c)] = torch.tensor([*p, *c])
    # hidden state at position i predicts token i+1: the completion's j-th token is
    # predicted at len(prompt) - 1 + j; only those positions go through the head
    start = torch.tensor([len(p) - 1 for p in prompts], device=device)
    at = (start[:, None] + torch.arange(C, device=device)).clamp(max=T - 1)  # (B, C)
    h = model.hidden(ids.to(device))  # (B, T, d)
    return h.gather(1, at[..., None].expand(B, C, h.shape[-1]))


def _shared_prompt_hidden(model: Transformer, distinct: list[tuple[int, ...]],
                          row_of: list[int], completions: Sequence[Sequence[int]], C: int
                          ) -> torch.Tensor:
    """``_joint_hidden`` with each distinct prompt run once (row ``i`` continues
    ``distinct[row_of[i]]``)."""
    device = model.lm_head.weight.device
    U, B, P = len(distinct), len(row_of), max(len(p) for p in distinct)
    ids = torch.zeros((U, P), dtype=torch.long)
    for u, p in enumerate(distinct):
        ids[u, : len(p)] = torch.tensor(p)
    ctx = Context(record=True)
    hp = model.hidden(ids.to(device), ctx=ctx)  # (U, P, d)
    index = torch.tensor(row_of, device=device)
    last = torch.tensor([len(p) - 1 for p in distinct], device=device)
    first = hp[torch.arange(U, device=device), last][index, None]  # (B, 1, d): token 0
    if C == 1:
        return first
    lengths = (last + 1)[index]  # (B,) each row's prompt length
    cids = torch.zeros((B, C - 1), dtype=torch.long)  # the last token predicts nothing
    for b, c in enumerate(completions):
        cids[b, : min(len(c), C - 1)] = torch.tensor(c[: C - 1], dtype=torch.long)
    steps = torch.arange(C - 1, device=device)
    sees_prompt = torch.arange(P, device=device)[None] < lengths[:, None]  # (B, P)
    causal = steps[None, :] <= steps[:, None]  # (C-1, C-1)
    mask = torch.cat([sees_prompt[:, None, :].expand(B, C - 1, P),
                      causal[None].expand(B, C - 1, C - 1)], dim=2)[:, None]  # (B,1,C-1,P+C-1)
    past = [(k.index_select(0, index), v.index_select(0, index)) for k, v in ctx.kept or []]
    digits = None
    if model.cfg.digit_index:  # completions continue their prompt's run of digits
        carry = torch.tensor([trailing_run(distinct[u], model.cfg.digit_first)
                              for u in row_of])
        digits = digit_runs(cids, model.cfg.digit_first, carry).to(device)
    hc = model.hidden(cids.to(device), lengths[:, None] + steps,
                      Context(past, mask), digits)  # (B, C-1, d)
    return torch.cat([first, hc], dim=1)


def sequence_logprobs(model: Transformer, prompts: Sequence[Sequence[int]],
                      completions: Sequence[Sequence[int]]) -> torch.Tensor:
    """Summed log-prob (B,) of each completion given its prompt; differentiable."""
    return completion_logprobs(model, prompts, completions)[0].sum(dim=-1)
