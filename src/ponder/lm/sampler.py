"""Batched sampling and teacher-forced scoring for ponder's built-in decoder.

Search strategies draw thousands of samples, so generation is organised around what is
slow on a CPU at this model size — the number of tensor operations per step, not the
arithmetic in them:

- decoding runs through ``FusedDecoder`` (the model's math with fused weights, cos/sin
  tables built once, a preallocated cache);
- prompts are left-padded so every row writes the same cache slot at each step (a slice
  copy, no scatter); a boolean mask hides the padding, and is left out when there is none;
- each distinct prompt is prefilled once and its cache rows copied to its ``n`` samples;
- finished rows are dropped from the batch once they are a quarter of it;
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

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ponder.errors import InvalidInput
from ponder.lm.base import Completion
from ponder.lm.model import FusedDecoder, Transformer
from ponder.lm.sampling import check_generate_args, nucleus_drop, stop_cut
from ponder.lm.tokenizer import CharTokenizer

NOISE_BLOCK = 32  # decoding steps of Gumbel noise drawn at once per sample
COMPACT_FRACTION = 0.25  # drop finished rows once they are this share of the batch
PREFILL_TOKENS = 8192  # prompt slots per prefill forward (bounds activations and the mask)


@dataclass
class _Row:
    """One sample being generated: which prompt, its budget and its random stream."""

    prompt: int  # index into the unique prompts of a chunk
    out: tuple[int, int]  # (prompt index, sample index) in the caller's list
    limit: int
    seed: int


class Sampler:
    """Generates from ``model`` with ``tokenizer``'s special tokens and token texts.

    ``max_batch`` bounds the rows (prompts × samples) decoded together; fewer are taken
    when their key/value cache (rows × layers × 2 × (prompt + new tokens) × d_model
    floats) would exceed ``cache_bytes``.
    """

    def __init__(self, model: Transformer, tokenizer: CharTokenizer, max_batch: int = 256,
                 cache_bytes: int = 512 * 2**20):
        if max_batch < 1:
            raise InvalidInput(f"max_batch must be at least 1, got {max_batch}")
        self.model, self.tokenizer = model, tokenizer
        self.max_batch, self.cache_bytes = max_batch, cache_bytes
        self.pieces = list(tokenizer.itos)  # token id -> its text
        self.prefill_tokens = 0  # prompt tokens run through the model, for accounting tests
        self._decoder: FusedDecoder | None = None
        self._weights_key: tuple = ()
        self._flops = (0.0, 0.0)  # FLOPs per token at context 0, and per context token

    def decoder(self) -> FusedDecoder:
        """The fused snapshot of the current weights, rebuilt when any parameter has been
        replaced or modified in place (as optimizer steps do) since it was built."""
        key = tuple((p.data_ptr(), p._version) for p in self.model.parameters())
        if self._decoder is None or key != self._weights_key:
            with torch.no_grad():
                self._decoder = FusedDecoder(self.model)
            self._weights_key = key
        return self._decoder

    @torch.inference_mode()
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
        sampling past EOS (for benchmarks that need a fixed number of tokens).
        """
        limits = check_generate_args(prompts, n, max_tokens, temperature, top_p)
        self._check(prompts, limits, stop)
        if seeds is None:
            seeds = torch.randint(0, 2**62, (len(prompts) * n,)).tolist()
        elif len(seeds) != len(prompts) * n:
            raise InvalidInput(f"need {len(prompts) * n} seeds (one per sample), got {len(seeds)}")
        out: list[list[Completion | None]] = [[None] * n for _ in prompts]
        for i, prompt in enumerate(prompts):  # nothing to generate: no compute spent
            if limits[i] == 0:
                out[i] = [Completion("", len(prompt), 0, 0.0, [], "length") for _ in range(n)]
        stop = [s for s in stop if s]
        dec = self.decoder()
        # flops_per_token is affine in the context (and slow to call): keep its two terms
        f0 = self.model.flops_per_token(0)
        self._flops = (f0, self.model.flops_per_token(1) - f0)
        for chunk_prompts, rows in self._chunks(prompts, n, limits, seeds):
            results = self._run(dec, chunk_prompts, rows, temperature, top_p, stop,
                                -1 if ignore_eos else self.tokenizer.eos_id)
            for row, result in zip(rows, results, strict=True):
                out[row.out[0]][row.out[1]] = result
        return out  # type: ignore[return-value]  # every slot is filled above

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

    def _chunks(self, prompts: Sequence[Sequence[int]], n: int, limits: list[int],
                seeds: Sequence[int]):
        """Yield (unique prompts, rows) batches of at most ``max_batch`` rows. Identical
        prompts share one prefill; longest prompts go first so a chunk's prompts have
        similar lengths and little padding."""
        groups: dict[tuple[int, ...], list[tuple[int, int]]] = {}
        for i, p in enumerate(prompts):
            if limits[i]:
                groups.setdefault(tuple(p), []).extend((i, j) for j in range(n))
        cfg = self.model.cfg
        longest = max((len(p) + m for p, m in zip(prompts, limits, strict=True) if m), default=1)
        row_bytes = cfg.n_layer * 2 * cfg.d_model * 4 * longest
        cap = max(1, min(self.max_batch, self.cache_bytes // row_bytes))
        uniq: list[tuple[int, ...]] = []
        rows: list[_Row] = []
        for prompt in sorted(groups, key=len, reverse=True):
            for i, j in groups[prompt]:
                if len(rows) == cap:
                    yield uniq, rows
                    uniq, rows = [], []
                if not uniq or uniq[-1] != prompt:
                    uniq.append(prompt)
                rows.append(_Row(len(uniq) - 1, (i, j), limits[i], int(seeds[i * n + j])))
        if rows:
            yield uniq, rows

    def _prefill(self, dec: FusedDecoder, prompts: list[tuple[int, ...]], new_tokens: int
                 ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor, torch.Tensor | None]:
        """Run the prompts, left-padded to a common length P, into a cache with room for
        ``new_tokens`` more slots. Returns the next-token logits (U, V), the cache, each
        prompt's length (U,) and, if any prompt is padded, the (U, P + new_tokens) mask
        of cache slots holding real tokens."""
        device = dec.embed.device
        lens = torch.tensor([len(p) for p in prompts], device=device)
        P = int(lens.max())
        pad = P - lens  # (U,)
        ids = torch.full((len(prompts), P), self.tokenizer.pad_id, device=device)
        for u, p in enumerate(prompts):
            ids[u, P - len(p):] = torch.tensor(p, device=device)
        slots = torch.arange(P + new_tokens, device=device)
        real = slots[None, :] >= pad[:, None]  # (U, P + new_tokens)
        padded = bool((pad > 0).any())
        # causal over real tokens; a padding query attends to itself, as a query that sees
        # nothing would give NaN
        causal = slots[None, :P] <= slots[:P, None]  # (P, P)
        diag = torch.eye(P, dtype=torch.bool, device=device)
        positions = (slots[None, :P] - pad[:, None]).clamp(min=0)  # (U, P)
        cache = dec.new_cache(len(prompts), P + new_tokens)
        logits = []
        group = max(1, PREFILL_TOKENS // P)
        for g in range(0, len(prompts), group):  # groups write into views of the cache
            rows = slice(g, g + group)
            mask = (causal & (real[rows, None, :P] | diag))[:, None] if padded else None
            logits.append(dec(ids[rows], positions[rows], dec.cache_rows(cache, rows), 0,
                               mask))
        self.prefill_tokens += int(lens.sum())
        return torch.cat(logits), cache, lens, real if padded else None

    def _run(self, dec: FusedDecoder, prompts: list[tuple[int, ...]], rows: list[_Row],
             temperature: float, top_p: float, stop: list[str], eos: int) -> list[Completion]:
        """Prefill ``prompts`` once, then decode every row of ``rows`` to its end."""
        device = dec.embed.device
        G = max(r.limit for r in rows)
        ctx = self.model.cfg.max_seq_len
        logits, cache, lens, real = self._prefill(dec, prompts, G)
        P = cache[0].shape[3] - G
        # share each prefill among the rows sampling from it
        index = torch.tensor([r.prompt for r in rows], device=device)
        if len(rows) > len(prompts):  # else one row per prompt, in order: nothing to copy
            cache = dec.cache_rows(cache, index)
        logits, pos = logits[index], lens[index]
        real = real[index][:, None, None] if real is not None else None  # (R, 1, 1, P+G)
        gens = [torch.Generator(device).manual_seed(r.seed) for r in rows]
        batch = list(range(len(rows)))  # batch position -> row
        toks: list[list[int]] = [[] for _ in rows]
        lps: list[list[float]] = [[] for _ in rows]
        reason: list[str | None] = [None] * len(rows)
        stop_ends = {i for i, piece in enumerate(self.pieces) if any(s[-1] in piece for s in stop)}
        finished, noise = 0, None  # finished rows still in the batch; Gumbel noise block
        for t in range(G):
            logp = F.log_softmax(logits, dim=-1)
            if temperature == 0:
                lp, tok = logp.max(dim=-1)
            else:
                if t % NOISE_BLOCK == 0:
                    steps = min(NOISE_BLOCK, G - t)
                    noise = _gumbel([gens[r] for r in batch], steps, logits.shape[-1], device)
                z = logits if temperature == 1 else logits / temperature
                if top_p < 1:
                    z = z.masked_fill(nucleus_drop(z.softmax(dim=-1), top_p), float("-inf"))
                tok = (z + noise[:, t % NOISE_BLOCK]).argmax(dim=-1)
                lp = logp.gather(-1, tok[:, None]).squeeze(-1)
            for r, x, v in zip(batch, tok.tolist(), lp.tolist(), strict=True):
                if reason[r] is not None:  # finished earlier, not yet dropped
                    continue
                toks[r].append(x)
                lps[r].append(v)
                if x == eos:
                    reason[r] = "eos"
                elif x in stop_ends and self._stopped(toks[r], stop):
                    reason[r] = "stop"
                elif len(toks[r]) == rows[r].limit:
                    reason[r] = "length"
                finished += reason[r] is not None
            if finished == len(batch):
                break
            if finished >= COMPACT_FRACTION * len(batch):  # a copy of the cache buys
                keep = [k for k, r in enumerate(batch) if reason[r] is None]  # cheaper steps
                kt = torch.tensor(keep, device=device)
                cache = dec.cache_rows(cache, kt)
                tok, pos = tok[kt], pos[kt]
                real = real[kt] if real is not None else None
                noise = noise[kt] if noise is not None else None
                batch, finished = [batch[k] for k in keep], 0
            col = P + t  # every row writes this cache slot
            # a finished row not yet dropped may run past the context; its output is
            # ignored, so clamping its position only keeps the rotary lookup in range
            logits = dec(tok[:, None], (pos + t).clamp(max=ctx - 1)[:, None], cache, col,
                         real[..., : col + 1] if real is not None else None)
        sharing = Counter(r.prompt for r in rows)
        return [self._completion(len(prompts[row.prompt]), toks[r], lps[r],
                                 reason[r] or "length", stop, share=sharing[row.prompt])
                for r, row in enumerate(rows)]

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


def _gumbel(gens: list[torch.Generator], steps: int, vocab: int, device: torch.device
            ) -> torch.Tensor:
    """(rows, steps, vocab) Gumbel noise, each row from its own generator: argmax(logits +
    noise) is an exact draw from softmax(logits) (the Gumbel-max trick). On CPU, torch's
    generator yields the same stream however it is split into calls, so step t of a row
    always gets the same numbers, whatever the block sizes."""
    u = torch.stack([torch.rand(steps, vocab, generator=g, device=device) for g in gens])
    return -torch.log(-torch.log(u))


# -- teacher forcing ---------------------------------------------------------------------


def completion_logprobs(model: Transformer, prompts: Sequence[Sequence[int]],
                        completions: Sequence[Sequence[int]]
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probs (B, C) of each completion given its prompt, by teacher forcing
    through ``model.forward``'s path (differentiable: RL losses backpropagate through it),
    and the (B, C) mask of real tokens; padding entries are 0. Prompts must be non-empty
    (include BOS); to score a sample that ended with EOS, append the EOS id."""
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
    ids = torch.zeros((B, T), dtype=torch.long)  # right padding: causal attention ignores it
    for b, (p, c) in enumerate(zip(prompts, completions, strict=True)):
        ids[b, : len(p) + len(c)] = torch.tensor([*p, *c])
    ids = ids.to(device)
    # hidden state at position i predicts token i+1: the completion's j-th token is
    # predicted at len(prompt) - 1 + j; only those positions go through the head
    mask = torch.arange(C, device=device)[None] < torch.tensor(
        [len(c) for c in completions], device=device)[:, None]  # (B, C)
    if C == 0:
        return torch.zeros((B, 0), device=device), mask
    start = torch.tensor([len(p) - 1 for p in prompts], device=device)
    at = (start[:, None] + torch.arange(C, device=device)).clamp(max=T - 2)  # (B, C)
    h = model.hidden(ids)  # (B, T, d)
    h = h.gather(1, at[..., None].expand(B, C, h.shape[-1]))  # (B, C, d)
    logp = F.log_softmax(model.lm_head(h).float(), dim=-1)  # (B, C, V)
    target = ids.gather(1, (at + 1).clamp(max=T - 1))
    lp = logp.gather(-1, target[..., None]).squeeze(-1)
    return lp.masked_fill(~mask, 0.0), mask


def sequence_logprobs(model: Transformer, prompts: Sequence[Sequence[int]],
                      completions: Sequence[Sequence[int]]) -> torch.Tensor:
    """Summed log-prob (B,) of each completion given its prompt; differentiable."""
    return completion_logprobs(model, prompts, completions)[0].sum(dim=-1)
