"""Generation with a thought before every emitted token (Quiet-STaR §5, "inference").

At each step the model reads the text so far (its key/value cache), thinks
``<start> z_1 .. z_t <end>`` on top of that cache, mixes the prediction after ``<end>``
with the plain one through the mixing head, draws the next token from the mixed
distribution, then *drops the thought's keys and values* and appends only the token:
later thoughts see the text, never earlier thoughts, as in training. A step therefore
costs t + 3 single-token forwards instead of one.

``QuietStarLM`` puts this behind ponder's LM protocol (``ponder.lm.base.LM``), so every
caller of that protocol — accuracy evaluation, test-time strategies, the server — can use
a Quiet-STaR model unchanged; ``thought_tokens=0`` turns thinking off (the plain model),
which is the fair speed baseline. With the built-in model as backbone its ``generate``
runs through ponder's generation engine (``ponder.quietstar.thinking``: continuous
batching across callers); this module's loop serves transformers backbones,
``generate_decoded`` (which returns the thoughts too) and, in tests, as the reference the
engine is held to.

Departures: one thought per position (the paper also averages several at test time in
some experiments); thought tokens are drawn at ``ThoughtConfig.temperature`` from each
row's own seeded stream, so a sample depends only on (seed, prompt, sample index). A batch
is left-padded; finished rows are dropped from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from ponder.errors import InvalidInput
from ponder.lm.base import Completion
from ponder.lm.sampling import check_generate_args, choose_tokens, row_seed, stop_cut
from ponder.quietstar import mask
from ponder.quietstar.backbone import NativeBackbone
from ponder.quietstar.mixing import mix
from ponder.quietstar.model import QuietStar
from ponder.quietstar.thoughts import draw


@dataclass
class Decoded:
    """One generated row: its tokens, their log-probs, the thought before each."""

    tokens: list[int] = field(default_factory=list)
    logps: list[float] = field(default_factory=list)
    thoughts: list[list[int]] = field(default_factory=list)
    reason: str = "length"
    text: str = ""


def _append(cache, bb, x, pos, valid):
    """Feed one token per row; returns (hidden (R, C), cache, valid keys)."""
    valid = torch.cat([valid, valid.new_ones(valid.shape[0], 1)], dim=1)
    h, cache = bb.forward(x, pos[:, None], cache, mask.decode(valid))
    return h[:, 0], cache, valid


def think(qs: QuietStar, cache, valid: torch.Tensor, pos: torch.Tensor, t: int,
          temperature: float, gens: list[torch.Generator], pause: bool = False
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """One thought per row on top of ``cache`` (left untouched): (hidden state after
    ``<end>`` (R, C), thought tokens (R, t))."""
    bb, R = qs.backbone, pos.shape[0]
    tok = torch.full((R,), qs.start_id, dtype=torch.long, device=pos.device)
    zs = []
    for k in range(t + 2):  # feeds <start>, z_1 .. z_t, <end>
        h, cache, valid = _append(cache, bb, qs.embed(tok[:, None]), pos + k, valid)
        if k < t:
            if pause:
                tok = torch.full_like(tok, qs.pause_id)
            else:
                u = torch.stack([torch.rand((), generator=g) for g in gens]).to(h.device)
                tok = draw(bb.logits(h), temperature, u)
            zs.append(tok)
        elif k == t:
            tok = torch.full_like(tok, qs.end_id)
    return h, (torch.stack(zs, 1) if zs else pos.new_zeros((R, 0)))


@torch.no_grad()
def decode(qs: QuietStar, prompts: list[list[int]], limits: list[int], temperature: float,
           top_p: float, seeds: list[int], stop: list[str], thought_tokens: int,
           thought_temperature: float, pause: bool = False) -> list[Decoded]:
    """Generate after each prompt (token ids); ``thought_tokens`` 0: no thoughts (the
    plain model, also for a pause-token model)."""
    bb, dev, codec = qs.backbone, qs.device, qs.codec
    R, P = len(prompts), max(len(p) for p in prompts)
    ids = torch.full((R, P), codec.pad_id, dtype=torch.long, device=dev)
    valid = torch.zeros((R, P), dtype=torch.bool, device=dev)
    for r, p in enumerate(prompts):
        ids[r, P - len(p):] = torch.tensor(p, device=dev)
        valid[r, P - len(p):] = True
    pos = (valid.long().cumsum(1) - 1).clamp(min=0)
    h, cache = bb.forward(qs.embed(ids), pos, None, mask.padded_prefill(valid))
    h, pos = h[:, -1], pos[:, -1] + 1
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    out = [Decoded() for _ in prompts]
    active = list(range(R))
    while active:
        logits = bb.logits(h)
        if thought_tokens > 0:
            h_talk, zs = think(qs, cache, valid, pos, thought_tokens, thought_temperature,
                               gens, pause)
            logits = mix(logits, bb.logits(h_talk), qs.mixer(h, h_talk))
        y = choose_tokens(logits, temperature, top_p, gens)
        lp = F.log_softmax(logits.float(), -1).gather(1, y[:, None])[:, 0]
        keep = []
        for j, r in enumerate(active):
            d, tok = out[r], int(y[j])
            if thought_tokens > 0:
                d.thoughts.append(zs[j].tolist())
            if tok == codec.eos_id:
                d.reason = "eos"
                continue
            d.tokens.append(tok)
            d.logps.append(float(lp[j]))
            if stop and stop_cut(codec.decode(d.tokens), stop) >= 0:
                d.reason = "stop"
            elif len(d.tokens) < limits[r]:
                keep.append(j)
        if len(keep) < len(active):
            if not keep:
                break
            idx = torch.tensor(keep, device=dev)
            cache = [(k[idx], v[idx]) for k, v in cache]
            valid, pos, y = valid[idx], pos[idx], y[idx]
            gens = [gens[j] for j in keep]
            active = [active[j] for j in keep]
        h, cache, valid = _append(cache, bb, qs.embed(y[:, None]), pos, valid)
        pos = pos + 1
    for d in out:
        d.text = codec.decode(d.tokens)
        if d.reason == "stop":
            d.text = d.text[: stop_cut(d.text, stop)]
    return out


class QuietStarLM:
    """A Quiet-STaR model as an LM (``ponder.lm.base.LM``)."""

    def __init__(self, qs: QuietStar, thought_tokens: int | None = None, name: str = "quiet-star",
                 max_batch: int = 64, engine: bool = True):
        self.qs, self.name, self.max_batch = qs, name, max_batch
        self.thought_tokens = qs.cfg.thought_tokens if thought_tokens is None else thought_tokens
        self.sampler = None  # the engine's, for the built-in backbone (unless engine=False)
        if engine and isinstance(qs.backbone, NativeBackbone):
            from ponder.quietstar.thinking import ThinkingSampler

            self.sampler = ThinkingSampler(qs, self.thought_tokens, max_batch=max_batch)
        self.thread_safe = self.sampler is not None
        self.max_context = qs.backbone.max_context
        self.steps_per_token = 1 + (self.thought_tokens + 2 if self.thinks else 0)
        self.flops_per_token = qs.backbone.flops_per_token * self.steps_per_token

    @property
    def thinks(self) -> bool:
        return self.thought_tokens > 0

    def count_tokens(self, text: str) -> int:
        return len(self.qs.codec.encode(text))

    def generate_decoded(self, prompts: list[str], n: int = 1,
                         max_tokens: int | list[int] = 256, temperature: float = 1.0,
                         top_p: float = 1.0, stop: list[str] | None = None,
                         seed: int | None = None) -> list[list[Decoded]]:
        """``generate`` with the thoughts kept (``Decoded`` rows)."""
        ids, limits, seed = self._prepare(prompts, n, max_tokens, temperature, top_p, stop,
                                          seed)
        rows = [(i, j) for i in range(len(prompts)) for j in range(n)]
        done: list[Decoded] = []
        for s in range(0, len(rows), self.max_batch):
            chunk = rows[s : s + self.max_batch]
            done += decode(self.qs, [ids[i] for i, _ in chunk], [limits[i] for i, _ in chunk],
                           temperature, top_p, [row_seed(seed, prompts[i], j) for i, j in chunk],
                           list(stop or []), self.thought_tokens, self.qs.cfg.temperature,
                           self.qs.cfg.pause)
        return [done[i * n : (i + 1) * n] for i in range(len(prompts))]

    def _prepare(self, prompts: list[str], n: int, max_tokens: int | list[int],
                 temperature: float, top_p: float, stop: list[str] | None, seed: int | None
                 ) -> tuple[list[list[int]], list[int], int]:
        """Checked (prompt ids, token limits within the context, seed)."""
        limits = check_generate_args(prompts, n, max_tokens, temperature, top_p)
        if isinstance(stop, str):
            raise InvalidInput("stop must be a list of strings, not a single string")
        ids = [self.qs.codec.encode(p, bos=True) for p in prompts]
        room = self.max_context - (self.thought_tokens + 2 if self.thinks else 0)
        for i, p in enumerate(ids):
            if len(p) >= room:
                raise InvalidInput(f"prompt {i} is {len(p)} tokens, which leaves no room in "
                                   f"the model's context of {self.max_context}")
        limits = [min(m, room - len(p)) for m, p in zip(limits, ids, strict=True)]
        seed = int(torch.randint(0, 2**62, ()).item()) if seed is None else seed
        return ids, limits, seed

    def _flops(self, n_prompt: int, tokens: int) -> float:
        return self.qs.backbone.flops_per_token * (n_prompt + self.steps_per_token * tokens)

    def generate(self, prompts: list[str], n: int = 1, max_tokens: int | list[int] = 256,
                 temperature: float = 1.0, top_p: float = 1.0, stop: list[str] | None = None,
                 seed: int | None = None) -> list[list[Completion]]:
        """For each prompt, ``n`` completions (EOS ends one and is counted, not shown)."""
        if self.sampler is not None:
            ids, limits, seed = self._prepare(prompts, n, max_tokens, temperature, top_p,
                                              stop, seed)
            seeds = [row_seed(seed, p, j) for p in prompts for j in range(n)]
            done = self.sampler.generate(ids, n=n, max_tokens=limits, temperature=temperature,
                                         top_p=top_p, stop=list(stop or []), seeds=seeds)
            return [[replace(c, flops=self._flops(len(p), c.tokens)) for c in row]
                    for p, row in zip(ids, done, strict=True)]
        out = []
        for p, rows in zip(prompts, self.generate_decoded(prompts, n, max_tokens, temperature,
                                                           top_p, stop, seed), strict=True):
            n_prompt = self.count_tokens(p) + 1
            out.append([Completion(
                text=d.text, prompt_tokens=n_prompt,
                tokens=len(d.tokens) + (d.reason == "eos"), logprob=sum(d.logps),
                token_logprobs=d.logps, finish_reason=d.reason,
                flops=self._flops(n_prompt, len(d.tokens) + (d.reason == "eos")))
                for d in rows])
        return out
