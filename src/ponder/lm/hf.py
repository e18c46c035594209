"""Hugging Face backend: any ``transformers`` causal LM in a local directory (including an
exported ponder checkpoint) behind the LM protocol.

Sampling is a hand-written loop over the model's key/value cache rather than
``model.generate``, so that every row keeps its own seeded random stream (a sample depends
only on ``(seed, prompt, sample index)``, not on what else is in the batch), stop strings
are checked on decoded text exactly as ``FunctionLM`` does, and the log-probs returned are
those of the model's own distribution (temperature 1, no nucleus cut), the same numbers
``logprobs`` gives by teacher forcing. Prompts of a batch are left-padded; each prompt is
prefilled once and its cache shared by its ``n`` samples.

Prompts: a tokenizer with a chat template (an instruct model) gets its questions through
that template, with ponder's think/answer instruction as system message and the assistant
turn opened with ``<think>`` (``format_prompt`` / ``format_chat``, see
``ponder.lm.template``); a tokenizer without one (a base model, an exported ponder
checkpoint) gets ponder's raw layout.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ponder.errors import InvalidInput, ModelError
from ponder.lm.base import Completion
from ponder.lm.checkpoint import model_config, read_json, require_llama
from ponder.lm.sampling import check_generate_args, choose_tokens, row_seed, stop_cut
from ponder.lm.template import (
    THINK_OPEN,
    Message,
    fold_system,
    format_prompt,
    join_messages,
    open_thinking,
    with_think_instruction,
)


def pad_rows(seqs: list[list[int]], pad_id: int, left: bool = True
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, attention_mask), both (B, T): padded on the left, so every row ends at T,
    or on the right (``left=False``), so every row starts at 0."""
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), T), dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            at = slice(T - len(s), T) if left else slice(0, len(s))
            ids[i, at] = torch.tensor(s)
            mask[i, at] = 1
    return ids, mask


def _positions(mask: torch.Tensor) -> torch.Tensor:
    # positions count real tokens only, so a left-padded row sees the positions it would
    # see alone (padding slots get 0; they are masked out anyway)
    return (mask.cumsum(-1) - 1).clamp(min=0)


def completion_logprobs(model: Any, prompts: list[list[int]], completions: list[list[int]],
                        pad_id: int, share_prompts: bool = True
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probs (B, C) of each completion given its prompt, by teacher forcing
    through ``model`` (differentiable unless called under ``no_grad``), and the (B, C)
    mask of real tokens (padding entries are 0).

    Prompts are left-padded and completions right-padded, so every completion starts at
    the same column and the output layer runs at those C columns alone
    (``logits_to_keep``) rather than at every prompt token: with a large vocabulary the
    head over the prompts costs as much as the rest of the model.

    With ``share_prompts``, rows that repeat a prompt (the G samples of one problem in
    GRPO) run it once: the distinct prompts go through the model first, their key/value
    cache is indexed out to every row, and the completions run against it. Gradients
    flow back through the shared cache, so the values and gradients are those of the
    unshared pass up to rounding, for a fraction of the prompt's compute."""
    B = len(prompts)
    C = max((len(c) for c in completions), default=0)
    device = next(model.parameters()).device
    lengths = torch.tensor([len(c) for c in completions])
    mask = (torch.arange(C)[None] < lengths[:, None]).float().to(device)
    if C == 0:
        return torch.zeros((B, 0), device=device), mask
    firsts: dict[tuple[int, ...], int] = {}
    row_of = [firsts.setdefault(tuple(p), len(firsts)) for p in prompts]
    if share_prompts and len(firsts) < B:
        logits, ids = _shared_prompt_logits(model, [list(p) for p in firsts], row_of,
                                            completions, pad_id, device)
    else:
        logits, ids = _joint_logits(model, prompts, completions, pad_id, device)
    target = ids[..., None]  # (B, C, 1)
    logp = logits.gather(-1, target).squeeze(-1) - logits.logsumexp(-1)
    return logp * mask, mask


def _joint_logits(model: Any, prompts: list[list[int]], completions: list[list[int]],
                  pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, V) logits predicting each completion token and the (B, C) completion ids,
    from one pass over prompt + completion rows."""
    pids, pmask = pad_rows(prompts, pad_id)
    cids, cmask = pad_rows(completions, pad_id, left=False)
    C = cids.shape[1]
    ids, attn = torch.cat([pids, cids], 1).to(device), torch.cat([pmask, cmask], 1).to(device)
    keep = {"logits_to_keep": C + 1} if _keeps_logits(model) else {}
    logits = model(input_ids=ids, attention_mask=attn, position_ids=_positions(attn),
                   **keep).logits
    # the logit at column t predicts token t + 1: columns P-1 .. P+C-2 the completion's
    return logits[:, -(C + 1):-1].float(), cids.to(device)


def _shared_prompt_logits(model: Any, distinct: list[list[int]], row_of: list[int],
                          completions: list[list[int]], pad_id: int, device: torch.device
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """``_joint_logits`` with each distinct prompt run once (row ``i`` has prompt
    ``distinct[row_of[i]]``)."""
    from transformers import DynamicCache

    base = base_model(model)
    pids, pmask = (t.to(device) for t in pad_rows(distinct, pad_id))
    keep = {"logits_to_keep": 1} if _keeps_logits(model) else {}
    cache = DynamicCache(config=base.config)
    cached = {cache_arg(base.forward): cache, "use_cache": True}
    head = model(input_ids=pids, attention_mask=pmask, position_ids=_positions(pmask),
                 **cached, **keep).logits[:, -1]  # (U, V)
    index = torch.tensor(row_of, device=device)
    cache.batch_select_indices(index)  # every row gets its prompt's keys and values
    pmask = pmask[index]
    cids, cmask = (t.to(device) for t in pad_rows(completions, pad_id, left=False))
    C = cids.shape[1]
    positions = pmask.sum(1, keepdim=True) + torch.arange(C, device=device)  # (B, C)
    body = model(input_ids=cids, attention_mask=torch.cat([pmask, cmask], 1),
                 position_ids=positions, **cached).logits
    # the prompt's last logit predicts the first token; completion column t predicts t + 1
    logits = torch.cat([head[index, None], body[:, : C - 1]], 1).float()  # (B, C, V)
    return logits, cids


def base_model(model: Any) -> Any:
    """The transformers model inside a peft wrapper (which passes its keyword arguments
    on to it), or ``model`` itself."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def cache_arg(forward: Any) -> str:
    """The name ``forward`` takes the key/value cache by: transformers 5 renamed
    ``past_key_values`` to ``cache``, 4.x knows only the old name."""
    return "cache" if "cache" in inspect.signature(forward).parameters else "past_key_values"


def _keeps_logits(model: Any) -> bool:
    """Whether ``model``'s forward takes ``logits_to_keep``."""
    return "logits_to_keep" in inspect.signature(base_model(model).forward).parameters


@dataclass
class _Row:
    """One sample being decoded."""

    limit: int  # tokens it may still take (max_tokens, cut to the context)
    gen: torch.Generator  # its own random stream
    tokens: list[int] = field(default_factory=list)
    logps: list[float] = field(default_factory=list)
    reason: str = "length"
    cut: int = -1  # where a stop string ends in the decoded text


class HFLM:
    """A ``transformers`` causal LM. ``path_or_model`` is a local model directory, or a
    loaded ``PreTrainedModel`` together with its ``tokenizer``. ``chat_template=False``
    keeps ponder's raw prompt layout even when the tokenizer has a chat template."""

    def __init__(self, path_or_model: str | Path | Any, tokenizer: Any = None, *,
                 device: str | None = None, dtype: torch.dtype | None = None,
                 name: str | None = None, batch_size: int = 64, chat_template: bool = True):
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if isinstance(path_or_model, str | Path):
            self.model, self.tokenizer = load_model(Path(path_or_model).expanduser(), tokenizer,
                                               dtype, self.device)
            self.name = name or f"hf:{path_or_model}"
        else:
            if tokenizer is None:
                raise InvalidInput("HFLM(model) needs its tokenizer: HFLM(model, tokenizer)")
            self.model, self.tokenizer = path_or_model.to(self.device).eval(), tokenizer
            self.name = name or f"hf:{getattr(self.model.config, 'name_or_path', '') or 'model'}"
        self.batch_size = batch_size  # rows (prompts × samples) decoded together
        cfg = self.model.config
        self.max_context = int(getattr(cfg, "max_position_embeddings", None)
                               or self.tokenizer.model_max_length)
        # 2 FLOPs per parameter per token (tied embeddings counted once); the attention
        # term (Kaplan et al. 2020) is left out, as it is small at the contexts used here
        self.flops_per_token = 2.0 * sum(p.numel() for p in self.model.parameters())
        self.eos_ids = _eos_ids(self.model, self.tokenizer)
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else min(self.eos_ids, default=0)
        #: whether prompts go through the tokenizer's chat template
        self.chat = chat_template and bool(getattr(self.tokenizer, "chat_template", None))
        self._cache = cache_arg(base_model(self.model).forward)

    # -- prompts -----------------------------------------------------------------------
    def format_prompt(self, question: str, think: bool = True) -> str:
        """The prompt for ``question``: one user turn through the chat template, or the
        raw layout when the model has no template."""
        if not self.chat:
            return format_prompt(question, think)
        return self.format_chat([{"role": "user", "content": question}], think)

    def format_chat(self, messages: list[Message], think: bool = True) -> str:
        """The prompt for a conversation: its roles through the chat template, after the
        think/answer instruction, with the assistant turn opened at ``<think>``; without
        a template, the texts joined in the raw layout."""
        if not self.chat:
            return format_prompt(join_messages(messages), think)
        from jinja2.exceptions import TemplateError

        chat = with_think_instruction(messages)
        try:
            text = self._render(chat)
        except TemplateError:  # templates such as Mistral's refuse a system role
            text = self._render(fold_system(chat))
        # templates of reasoning models (DeepSeek-R1's) open the thinking themselves
        head = text.rstrip()
        if head.endswith(THINK_OPEN):
            text = head[: -len(THINK_OPEN)]
        return text + open_thinking(think)

    def _render(self, messages: list[Message]) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                  add_generation_prompt=True)

    # -- tokens ------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def prompt_ids(self, prompt: str) -> list[int]:
        # the tokenizer's own convention decides whether a BOS token starts the prompt,
        # unless the prompt has it already (chat templates write it): never two
        bos = self.tokenizer.bos_token
        ids = self.tokenizer.encode(prompt, add_special_tokens=not (bos and
                                                                    prompt.startswith(bos)))
        if not ids:
            raise InvalidInput("an empty prompt gives the model no context (its tokenizer "
                               "adds no BOS token); start the prompt with some text")
        return ids

    # -- the protocol ------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, prompts: list[str], n: int = 1, max_tokens: int | list[int] = 256,
                 temperature: float = 1.0, top_p: float = 1.0, stop: list[str] | None = None,
                 seed: int | None = None) -> list[list[Completion]]:
        """For each prompt, ``n`` completions (see the module docstring for semantics).
        ``tokens`` counts every sampled token, the EOS token included; ``text`` excludes
        EOS and ends with the stop string when one ended it."""
        limits = check_generate_args(prompts, n, max_tokens, temperature, top_p)
        if seed is None:  # still follows torch.manual_seed, for scripts that set it
            seed = int(torch.randint(0, 2**62, ()).item())
        ids = [self.prompt_ids(p) for p in prompts]
        for p, i in zip(prompts, ids, strict=True):
            if len(i) >= self.max_context:
                raise InvalidInput(f"prompt of {len(i)} tokens does not fit the model's "
                                   f"context of {self.max_context}: {p[:60]!r}...")
        per_chunk = max(1, self.batch_size // n)
        out: list[list[Completion]] = []
        for start in range(0, len(prompts), per_chunk):
            sl = slice(start, start + per_chunk)
            out += self._generate_chunk(prompts[sl], ids[sl], n, limits[sl], temperature,
                                        top_p, list(stop or []), seed)
        return out

    def _generate_chunk(self, prompts: list[str], prompt_ids: list[list[int]], n: int,
                        limits: list[int], temperature: float, top_p: float,
                        stop: list[str], seed: int) -> list[list[Completion]]:
        # row r is sample r % n of prompt r // n
        rows = [_Row(limit=min(limits[r // n], self.max_context - len(prompt_ids[r // n])),
                     gen=torch.Generator().manual_seed(row_seed(seed, prompts[r // n], r % n)))
                for r in range(len(prompts) * n)]
        active = [r for r, row in enumerate(rows) if row.limit > 0]  # in cache order
        if active:
            cache, logits, mask, next_pos = self._prefill(prompt_ids, n)
            if len(active) < len(rows):
                keep = torch.tensor(active, device=self.device)
                cache.batch_select_indices(keep)
                logits, mask, next_pos = logits[keep], mask[keep], next_pos[keep]
        while active:
            logits = logits.float()
            tok = choose_tokens(logits, temperature, top_p, [rows[r].gen for r in active])
            logp = F.log_softmax(logits, -1).gather(-1, tok[:, None]).squeeze(-1)
            still = [k for k, (r, t, lp) in enumerate(zip(active, tok.tolist(), logp.tolist(),
                                                          strict=True))
                     if self._advance(rows[r], t, lp, stop)]
            if not still:
                break
            if len(still) < len(active):  # drop finished rows from the cache
                keep = torch.tensor(still, device=self.device)
                cache.batch_select_indices(keep)
                tok, mask, next_pos = tok[keep], mask[keep], next_pos[keep]
                active = [active[k] for k in still]
            mask = torch.cat([mask, mask.new_ones(len(active), 1)], dim=1)
            logits = self.model(input_ids=tok[:, None], attention_mask=mask,
                                position_ids=next_pos[:, None], use_cache=True,
                                **{self._cache: cache}).logits[:, -1]
            next_pos = next_pos + 1
        return [[self._completion(rows[r], len(ids), n) for r in range(i * n, (i + 1) * n)]
                for i, ids in enumerate(prompt_ids)]

    def _prefill(self, prompt_ids: list[list[int]], n: int) -> tuple[Any, torch.Tensor,
                                                                     torch.Tensor, torch.Tensor]:
        """Run the left-padded prompts once; return (cache, last logits, attention mask,
        next positions) with every prompt's row repeated for its ``n`` samples."""
        from transformers import DynamicCache

        ids, mask = pad_rows(prompt_ids, self.pad_id)
        ids, mask = ids.to(self.device), mask.to(self.device)
        pos = _positions(mask)
        cache = DynamicCache(config=self.model.config)
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=pos,
                            use_cache=True, **{self._cache: cache}).logits[:, -1]
        if n > 1:  # the samples of a prompt share its prefill
            cache.batch_repeat_interleave(n)
            logits, mask = logits.repeat_interleave(n, 0), mask.repeat_interleave(n, 0)
            pos = pos.repeat_interleave(n, 0)
        return cache, logits, mask, pos[:, -1] + 1

    def _advance(self, row: _Row, token: int, logprob: float, stop: list[str]) -> bool:
        """Record a sampled token; return whether the row goes on sampling."""
        row.tokens.append(token)
        row.logps.append(logprob)
        if token in self.eos_ids:
            row.reason = "eos"
            return False
        if stop and (cut := stop_cut(self._decode(row.tokens), stop)) >= 0:
            row.reason, row.cut = "stop", cut
            return False
        return len(row.tokens) < row.limit

    def _completion(self, row: _Row, prompt_tokens: int, n: int) -> Completion:
        text = self._decode(row.tokens[:-1] if row.reason == "eos" else row.tokens)
        if row.cut >= 0:
            text = text[:row.cut]
        return Completion(text=text, prompt_tokens=prompt_tokens, tokens=len(row.tokens),
                          logprob=float(sum(row.logps)), token_logprobs=row.logps,
                          finish_reason=row.reason,
                          flops=self.flops_per_token * (prompt_tokens / n + len(row.tokens)))

    def _decode(self, ids: list[int]) -> str:
        # special tokens stay in the text: ponder's <think> markers are special tokens
        return self.tokenizer.decode(ids, skip_special_tokens=False,
                                     clean_up_tokenization_spaces=False)

    @torch.no_grad()
    def logprobs(self, prompts: list[str], completions: list[str]) -> list[list[float]]:
        """Per-token log-probs of each completion given its prompt (teacher forcing);
        the completion is tokenized on its own and appended to the prompt's tokens, as
        ``generate`` appends sampled tokens."""
        if len(prompts) != len(completions):
            raise InvalidInput(f"{len(prompts)} prompts but {len(completions)} completions")
        out: list[list[float]] = []
        for start in range(0, len(prompts), self.batch_size):
            pairs = list(zip(prompts[start:start + self.batch_size],
                             completions[start:start + self.batch_size], strict=True))
            p_ids = [self.prompt_ids(p) for p, _ in pairs]
            c_ids = [self.tokenizer.encode(c, add_special_tokens=False) for _, c in pairs]
            if max(len(p) + len(c) for p, c in zip(p_ids, c_ids, strict=True)) \
                    > self.max_context:
                raise InvalidInput(f"a prompt + completion exceeds the model's context of "
                                   f"{self.max_context} tokens")
            lp, _ = completion_logprobs(self.model, p_ids, c_ids, self.pad_id)
            out += [row[: len(c)] for row, c in zip(lp.tolist(), c_ids, strict=True)]
        return out


def load_model(path: Path, tokenizer: Any, dtype: torch.dtype | None,
               device: torch.device) -> tuple[Any, Any]:
    """(causal LM in eval mode, tokenizer) from a local directory, or ModelError."""
    from transformers import AutoModelForCausalLM

    if not path.is_dir():
        raise ModelError(f"Hugging Face model directory {path} does not exist"
                         if not path.exists() else f"{path} is not a model directory")
    if not (path / "config.json").exists():
        raise ModelError(f"{path} has no config.json; is it a transformers model directory?")
    config = read_json(path / "config.json")
    ponder_cfg = config.get("ponder") if isinstance(config, dict) else None
    if isinstance(ponder_cfg, dict):  # a ponder checkpoint: transformers must run it exactly
        require_llama(model_config(path, ponder_cfg), "transformers")
    if dtype is None:  # full precision on CPU; the stored precision on accelerators
        dtype = torch.float32 if device.type == "cpu" else "auto"
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
        if tokenizer is None or isinstance(tokenizer, str | Path):
            tokenizer = _load_tokenizer(Path(tokenizer or path))
    except (OSError, ValueError, KeyError) as e:
        raise ModelError(f"cannot load a causal LM from {path}: {e}") from e
    return model.to(device).eval(), tokenizer


def _load_tokenizer(path: Path) -> Any:
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    config_path = path / "tokenizer_config.json"
    declared = json.loads(config_path.read_text()).get("tokenizer_class") \
        if config_path.exists() else None
    # AutoTokenizer may pick a tokenizer class from the model type (e.g. Qwen2's), whose
    # own pre-tokenizer then overrides tokenizer.json; a directory that declares the
    # generic class (ponder's, or any custom tokenizer) means tokenizer.json as written
    if declared in ("PreTrainedTokenizerFast", "TokenizersBackend"):
        return PreTrainedTokenizerFast.from_pretrained(str(path))
    return AutoTokenizer.from_pretrained(str(path))


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    gen = getattr(model, "generation_config", None)
    for v in (getattr(gen, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(v, int):
            ids.add(v)
        elif v is not None:
            ids.update(v)
    return ids
