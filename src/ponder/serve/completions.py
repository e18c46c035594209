"""``POST /v1/completions``: the raw model continuing the client's own prompt (OpenAI's
legacy text completions), so that a served model can be evaluated from another machine
with ``ponder eval --model http://HOST:PORT/v1#NAME`` (``ponder.lm.http``).

Nothing is hidden here: the client writes the prompt, thinking markers included, and
gets back what the model wrote after it, as from any text-completion API. ``ponder serve
--no-completions`` turns the endpoint off where every chain of thought must stay on the
server. Calls go through the engine's runner, batched with the chat requests' own.

Fields as vLLM answers them: ``finish_reason`` is "stop" for a stop string and for the
end of sequence, "length" at ``max_tokens``; ``stop_reason`` is the stop string matched
(removed from ``text``, as OpenAI does) or null; with ``logprobs`` each choice carries the
sampled tokens' log-probabilities (``token_logprobs``; token strings are not returned).
``echo`` and ``stream`` are refused.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from ponder.lm.base import Completion
from ponder.lm.batching import Call
from ponder.serve.engine import Engine
from ponder.serve.errors import BadRequest, model_not_found
from ponder.serve.protocol import CompletionRequest


def _choice(c: Completion, index: int, stop: list[str], logprobs: bool) -> dict[str, Any]:
    text, matched = c.text, None
    if c.finish_reason == "stop":
        matched = next((s for s in stop if text.endswith(s)), None)
        if matched:
            text = text[: -len(matched)]
    return {"index": index, "text": text,
            "finish_reason": "length" if c.finish_reason == "length" else "stop",
            "stop_reason": matched,
            "logprobs": {"tokens": None, "token_logprobs": c.token_logprobs,
                         "top_logprobs": None, "text_offset": None}
            if logprobs and c.token_logprobs is not None else None}


async def create_completion(engine: Engine, body: CompletionRequest) -> dict[str, Any]:
    if body.model != engine.name:
        raise model_not_found(body.model)
    if body.echo or body.stream:
        raise BadRequest("echo and stream are not supported by this server's "
                         "/v1/completions", param="echo" if body.echo else "stream")
    prompts = [body.prompt] if isinstance(body.prompt, str) else list(body.prompt)
    if not prompts or any(not p for p in prompts):
        raise BadRequest("prompt must be a non-empty string or list of strings",
                         param="prompt")
    for p in prompts:
        used = engine.lm.count_tokens(p)
        if used >= engine.lm.max_context:
            raise BadRequest(f"This model's maximum context length is "
                             f"{engine.lm.max_context} tokens, but your prompt is {used} "
                             "tokens.", param="prompt", code="context_length_exceeded")
    stop = [body.stop] if isinstance(body.stop, str) else [s for s in body.stop or [] if s]
    call = Call(prompts, body.n, body.max_tokens, body.temperature, body.top_p, stop or None,
                0 if body.seed is None else body.seed)
    rows = await asyncio.to_thread(engine.batcher.run, call)
    choices = [_choice(c, i * body.n + j, stop, body.logprobs is not None)
               for i, row in enumerate(rows) for j, c in enumerate(row)]
    prompt_tokens = sum(row[0].prompt_tokens for row in rows if row)
    completion_tokens = sum(c.tokens for row in rows for c in row)
    return {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion",
            "created": int(time.time()), "model": engine.name, "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}
