"""HTTP backend: any OpenAI-compatible ``/v1/completions`` endpoint (ponder's own server,
vLLM's, llama.cpp's, a hosted API) behind the LM protocol.

Each prompt is one request (``n`` samples); requests go out concurrently so a server that
batches (vLLM, ponder serve) sees them together, and each response's ``usage`` is that
prompt's own. Text completion, not chat: the prompt is sent as is.

Where the OpenAI API says less than the protocol needs:
- Token counts come from the per-token ``logprobs`` (``logprobs=1`` is requested; 0
  would be enough, but some servers treat 0 as "off"). A server that returns none gets
  an even share of ``usage.completion_tokens`` per sample and ``token_logprobs=None``.
- OpenAI strips a matched stop string and reports ``finish_reason="stop"`` for both stop
  strings and EOS. vLLM and ponder also send ``stop_reason`` (the matched string, or
  null for EOS); with it the stop string is put back and EOS told apart. Without it, a
  "stop" is reported as a stop string whenever stop strings were given.
- Parameter counts are not published, so ``flops_per_token`` is whatever the caller
  passes (0 by default: unknown).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from ponder.errors import InvalidInput, ModelError
from ponder.lm.base import Completion
from ponder.lm.sampling import check_generate_args, stop_cut


def completions_url(base_url: str) -> str:
    """``http://host:8000`` and ``http://host:8000/v1`` both mean the same endpoint.

    >>> completions_url("http://localhost:8000/v1/")
    'http://localhost:8000/v1/completions'
    >>> completions_url("http://localhost:8000")
    'http://localhost:8000/v1/completions'
    """
    url = base_url.rstrip("/")
    return f"{url}/completions" if url.endswith("/v1") else f"{url}/v1/completions"


class HTTPLM:
    """A model behind an OpenAI-compatible completions endpoint.

    ``tokenizer`` (a local tokenizer directory, or an object with ``encode``) counts
    tokens locally; without it ``count_tokens`` asks the server. ``max_context`` and
    ``flops_per_token`` describe the remote model, which the API does not report."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, *,
                 tokenizer: str | Path | Any = None, flops_per_token: float = 0.0,
                 max_context: int = 4096, timeout: float = 600.0, max_concurrency: int = 8,
                 name: str | None = None):
        if not base_url.startswith(("http://", "https://")):
            raise InvalidInput(f"base_url must start with http:// or https://, got {base_url!r}")
        if not model:
            raise InvalidInput("HTTPLM needs the served model's name (model=...)")
        self.url, self.model = completions_url(base_url), model
        self.name = name or f"{base_url.rstrip('/')}#{model}"
        self.flops_per_token, self.max_context = float(flops_per_token), max_context
        self.max_concurrency = max_concurrency
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(headers=headers, timeout=timeout)
        if isinstance(tokenizer, str | Path):
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(Path(tokenizer).expanduser()))
        self.tokenizer = tokenizer
        self._counts: dict[str, int] = {}

    def close(self) -> None:
        self.client.close()

    def count_tokens(self, text: str) -> int:
        """With a local ``tokenizer``, its count; else the server's own, read from the
        ``usage.prompt_tokens`` of a one-token completion of ``text`` (cached per text;
        it includes whatever the server adds, such as a BOS token)."""
        if self.tokenizer is not None:
            return len(self.tokenizer.encode(text, add_special_tokens=False))
        if not text:
            return 0
        if text not in self._counts:
            data = self._post({"model": self.model, "prompt": text, "n": 1, "max_tokens": 1,
                               "temperature": 0.0})
            used = (data.get("usage") or {}).get("prompt_tokens")
            if not isinstance(used, int):
                raise ModelError(f"{self.name}: the server reports no usage.prompt_tokens, "
                                 "so counting tokens needs the model's tokenizer; pass "
                                 "tokenizer=<local tokenizer directory> to HTTPLM")
            self._counts[text] = used
        return self._counts[text]

    def generate(self, prompts: list[str], n: int = 1, max_tokens: int | list[int] = 256,
                 temperature: float = 1.0, top_p: float = 1.0, stop: list[str] | None = None,
                 seed: int | None = None) -> list[list[Completion]]:
        limits = check_generate_args(prompts, n, max_tokens, temperature, top_p)
        stop = list(stop or [])
        bodies = [self.request_body(p, n, m, temperature, top_p, stop, seed)
                  for p, m in zip(prompts, limits, strict=True)]
        if not bodies:
            return []
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(bodies))) as pool:
            responses = list(pool.map(self._post, bodies))
        return [self._completions(p, r, n, stop)
                for p, r in zip(prompts, responses, strict=True)]

    def request_body(self, prompt: str, n: int, max_tokens: int, temperature: float,
                     top_p: float, stop: list[str], seed: int | None) -> dict[str, Any]:
        """The JSON body of the completions request for one prompt."""
        body: dict[str, Any] = {"model": self.model, "prompt": prompt, "n": n,
                                "max_tokens": max_tokens, "temperature": temperature,
                                "top_p": top_p, "logprobs": 1}
        if stop:
            body["stop"] = stop
        if seed is not None:
            body["seed"] = seed
        return body

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self.client.post(self.url, json=body)
        except httpx.HTTPError as e:  # connection refused, timeout, ...
            raise ModelError(f"cannot reach {self.url}: {type(e).__name__}: {e}") from e
        if response.status_code != 200:
            raise ModelError(f"{self.url} answered HTTP {response.status_code}: "
                             f"{_error_message(response)}")
        try:
            data = response.json()
        except json.JSONDecodeError as e:
            raise ModelError(f"{self.url} returned invalid JSON: {response.text[:200]!r}") from e
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise ModelError(f"{self.url} returned no 'choices': {str(data)[:200]}")
        return data

    def _completions(self, prompt: str, data: dict[str, Any], n: int,
                     stop: list[str]) -> list[Completion]:
        choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
        if len(choices) != n:
            raise ModelError(f"{self.url} returned {len(choices)} choices where {n} were "
                             "asked for")
        usage = data.get("usage") or {}
        prompt_tokens = usage.get("prompt_tokens")
        if prompt_tokens is None:
            prompt_tokens = 0 if self.tokenizer is None else self.count_tokens(prompt)
        row = []
        for c in choices:
            text, reason = _finish(c, stop)
            lps = _token_logprobs(c)
            tokens = len(lps) if lps is not None else int(usage.get("completion_tokens", 0)) // n
            row.append(Completion(
                text=text, prompt_tokens=int(prompt_tokens), tokens=tokens,
                logprob=float(sum(lps)) if lps else 0.0, token_logprobs=lps,
                finish_reason=reason,
                flops=self.flops_per_token * (prompt_tokens / n + tokens)))
        return row


def _finish(choice: dict[str, Any], stop: list[str]) -> tuple[str, str]:
    """(text, finish_reason) in the protocol's terms: a stop string ends the text."""
    text, finish = choice.get("text") or "", choice.get("finish_reason")
    if finish == "length":
        return text, "length"
    if finish != "stop":
        raise ModelError(f"completion ended with finish_reason {finish!r}")
    if "stop_reason" in choice:  # vLLM / ponder: the matched string, or null/an id for EOS
        matched = choice["stop_reason"]
        if not isinstance(matched, str):
            return text, "eos"
        return (text if text.endswith(matched) else text + matched), "stop"
    if (cut := stop_cut(text, stop)) >= 0:  # a server that keeps the stop string
        return text[:cut], "stop"
    return text, "stop" if stop else "eos"


def _token_logprobs(choice: dict[str, Any]) -> list[float] | None:
    lp = choice.get("logprobs")
    if not lp or lp.get("token_logprobs") is None:
        return None
    return [float(x) for x in lp["token_logprobs"] if x is not None]


def _error_message(response: httpx.Response) -> str:
    """The message of an OpenAI error object, else the start of the body."""
    try:
        err = response.json().get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    except (json.JSONDecodeError, AttributeError):
        pass
    return response.text[:300] or response.reason_phrase
