"""vLLM backend: a local model directory served by ``vllm.LLM`` (GPU machines).

vLLM is an optional extra (``pip install 'ponder[vllm]'``) and is imported only when a
``VLLMLM`` is built. The LM protocol maps onto ``SamplingParams`` one to one; the
settings below make vLLM's output follow the protocol's conventions (those of ``HFLM``):

- ``include_stop_str_in_output``: a completion ended by a stop string keeps it;
- ``skip_special_tokens=False`` and ``spaces_between_special_tokens=False``: special
  tokens such as ponder's ``<think>`` markers stay in the text, unspaced;
- ``logprobs=0``: the sampled token's log-prob only, under the model's own distribution
  (vLLM's default ``raw_logprobs`` mode), as ``HFLM`` reports it;
- ``stop_reason`` tells a stop string (a str) from EOS (None, or a stop token id).

Per-prompt ``max_tokens`` become one ``SamplingParams`` per prompt, which ``LLM.generate``
accepts. vLLM's seeded sampling is its own, so a seed reproduces vLLM runs, not HFLM's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ponder.errors import InvalidInput, ModelError
from ponder.lm.base import Completion
from ponder.lm.sampling import check_generate_args, stop_cut

NOT_INSTALLED = "vLLM is not installed; pip install 'ponder[vllm]' on a machine with a GPU"


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as e:
        raise ModelError(NOT_INSTALLED) from e
    return vllm


def count_parameters(model_dir: Path) -> int:
    """Parameters stored in a directory's ``*.safetensors`` files, read from their headers
    only (no weights are loaded). Tied weights are stored, and so counted, once."""
    from safetensors import safe_open

    total = 0
    for f in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(f), framework="pt") as st:
            for key in st.keys():  # noqa: SIM118 (safe_open is not a mapping)
                n = 1
                for d in st.get_slice(key).get_shape():
                    n *= d
                total += n
    return total


class VLLMLM:
    """A model directory run by vLLM; ``engine_kwargs`` go to ``vllm.LLM`` (e.g.
    ``tensor_parallel_size``, ``gpu_memory_utilization``, ``max_model_len``)."""

    def __init__(self, path: str | Path, *, name: str | None = None,
                 flops_per_token: float | None = None, **engine_kwargs: Any):
        vllm = _import_vllm()
        model_dir = Path(path).expanduser()
        if not (model_dir / "config.json").exists():
            raise ModelError(f"{model_dir} is not a model directory (no config.json)"
                             if model_dir.exists() else f"model directory {model_dir} "
                             "does not exist")
        self._vllm = vllm
        self.name = name or f"vllm:{path}"
        self.llm = vllm.LLM(model=str(model_dir), **engine_kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        config = json.loads((model_dir / "config.json").read_text())
        # vLLM caps the context at max_model_len when given, else at the model's own
        self.max_context = int(engine_kwargs.get("max_model_len")
                               or config.get("max_position_embeddings") or 2048)
        # same accounting as HFLM: 2 FLOPs per stored parameter per token
        self.flops_per_token = (float(flops_per_token) if flops_per_token is not None
                                else 2.0 * count_parameters(model_dir))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def sampling_params(self, n: int, max_tokens: int, temperature: float, top_p: float,
                        stop: list[str], seed: int | None) -> Any:
        """The ``vllm.SamplingParams`` for one prompt."""
        return self._vllm.SamplingParams(
            n=n, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
            stop=list(stop) or None, seed=seed, logprobs=0,
            include_stop_str_in_output=True, skip_special_tokens=False,
            spaces_between_special_tokens=False)

    def generate(self, prompts: list[str], n: int = 1, max_tokens: int | list[int] = 256,
                 temperature: float = 1.0, top_p: float = 1.0, stop: list[str] | None = None,
                 seed: int | None = None) -> list[list[Completion]]:
        limits = check_generate_args(prompts, n, max_tokens, temperature, top_p)
        stop = list(stop or [])
        # vLLM rejects max_tokens=0; such prompts get empty completions without a request
        todo = [i for i, m in enumerate(limits) if m > 0]
        params = [self.sampling_params(n, limits[i], temperature, top_p, stop, seed)
                  for i in todo]
        results = self.llm.generate([prompts[i] for i in todo], params, use_tqdm=False)
        if len(results) != len(todo):
            raise ModelError(f"vLLM returned {len(results)} results for {len(todo)} prompts")
        out: list[list[Completion]] = [
            [Completion(text="", prompt_tokens=len(self.tokenizer.encode(p)), tokens=0,
                        token_logprobs=[], finish_reason="length") for _ in range(n)]
            for p in prompts]
        for i, result in zip(todo, results, strict=True):
            out[i] = self._completions(result, n, stop)
        return out

    def _completions(self, result: Any, n: int, stop: list[str]) -> list[Completion]:
        prompt_tokens = len(result.prompt_token_ids)
        row = []
        for c in sorted(result.outputs, key=lambda c: c.index):
            if c.finish_reason == "length":
                reason = "length"
            elif c.finish_reason == "stop":
                reason = "stop" if isinstance(c.stop_reason, str) else "eos"
            else:
                raise ModelError(f"vLLM request ended with finish_reason {c.finish_reason!r}")
            text = c.text
            if reason == "eos":  # with special tokens kept, the EOS token may be detokenized
                eos = self.tokenizer.eos_token or ""
                if eos and text.endswith(eos):
                    text = text[: -len(eos)]
            elif reason == "stop" and (cut := stop_cut(text, stop)) >= 0:
                text = text[:cut]
            lps = None
            if c.logprobs is not None:
                lps = [float(step[t].logprob) for t, step in zip(c.token_ids, c.logprobs,
                                                                 strict=True)]
            total = sum(lps) if lps is not None else float(c.cumulative_logprob or 0.0)
            tokens = len(c.token_ids)
            row.append(Completion(
                text=text, prompt_tokens=prompt_tokens, tokens=tokens, logprob=total,
                token_logprobs=lps, finish_reason=reason,
                flops=self.flops_per_token * (prompt_tokens / n + tokens)))
        if len(row) != n:
            raise ModelError(f"vLLM returned {len(row)} samples where {n} were asked for")
        return row

    def logprobs(self, prompts: list[str], completions: list[str]) -> list[list[float]]:
        """Per-token log-probs of each completion given its prompt, read from vLLM's
        prompt log-probs of the concatenated token ids (one generated token, discarded)."""
        if len(prompts) != len(completions):
            raise InvalidInput(f"{len(prompts)} prompts but {len(completions)} completions")
        p_ids = [self.tokenizer.encode(p, add_special_tokens=True) for p in prompts]
        c_ids = [self.tokenizer.encode(c, add_special_tokens=False) for c in completions]
        if any(not p for p in p_ids):
            raise InvalidInput("an empty prompt gives the model no context; start the prompt "
                               "with some text")
        inputs = [{"prompt_token_ids": p + c} for p, c in zip(p_ids, c_ids, strict=True)]
        params = self._vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        results = self.llm.generate(inputs, params, use_tqdm=False)
        out = []
        for result, p, c in zip(results, p_ids, c_ids, strict=True):
            seq, steps = p + c, result.prompt_logprobs
            out.append([float(steps[k][seq[k]].logprob) for k in range(len(p), len(seq))])
        return out
