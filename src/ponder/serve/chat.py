"""POST /v1/chat/completions.

The conversation goes to the model with its roles: an instruct model (an HF model with a
chat template) renders it through its template; ponder's own reasoners, single-question
solvers without one, take every message's text, in order, as the question, so one user
message is the normal use. Each choice's ``message.content`` is the visible part of the
chosen chain, what follows ``</think>`` as the model wrote it (``Answer: 42`` for the
built-in model); the thinking itself is never sent. ``usage.completion_tokens`` counts
every generated token and ``completion_tokens_details.reasoning_tokens`` the hidden ones:
all samples' thinking and the answers that were not chosen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
from fastapi.responses import StreamingResponse

from ponder.lm.template import Message, join_messages
from ponder.serve.engine import Engine, Job, Outcome
from ponder.serve.errors import BadRequest, model_not_found
from ponder.serve.protocol import (
    ChatChoice,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChatMessage,
    ChatUsage,
    ChoiceDelta,
    ChunkChoice,
    CompletionTokensDetails,
    ThinkingInfo,
    ThinkingProgress,
    new_id,
    now,
)
from ponder.serve.streaming import error_event, failure, sse, ticks, wait


def message_text(m: ChatMessage) -> str:
    if m.content is None:
        return ""
    return m.content if isinstance(m.content, str) else "".join(p.text for p in m.content)


def conversation(messages: list[ChatMessage]) -> list[Message]:
    """The request's messages as chat templates take them (role and text)."""
    return [{"role": m.role, "content": message_text(m)} for m in messages]


def usage(outcome: Outcome) -> ChatUsage:
    return ChatUsage(
        completion_tokens=outcome.completion_tokens, prompt_tokens=outcome.prompt_tokens,
        total_tokens=outcome.prompt_tokens + outcome.completion_tokens,
        completion_tokens_details=CompletionTokensDetails(
            reasoning_tokens=outcome.reasoning_tokens))


async def create_chat_completion(engine: Engine, req: ChatCompletionRequest, request: Request,
                                 progress_s: float) -> ChatCompletionResponse | StreamingResponse:
    if req.model != engine.name:
        raise model_not_found(req.model)
    if req.stream_options is not None and not req.stream:
        raise BadRequest("stream_options may only be set when stream is true.",
                         param="stream_options", code="invalid_value")
    messages = conversation(req.messages)
    query = engine.prepare(
        join_messages(messages), messages=messages, param="messages",
        effort=req.reasoning_effort,
        max_completion_tokens=req.max_completion_tokens or req.max_tokens, n=req.n,
        temperature=req.temperature, top_p=req.top_p, seed=req.seed,
        stop=[req.stop] if isinstance(req.stop, str) else req.stop)
    job = engine.submit(query)
    if req.stream:
        return StreamingResponse(_stream(job, req, progress_s), media_type="text/event-stream")
    outcome = await wait(job, request)
    choices = [ChatChoice(index=i, finish_reason=c.finish_reason,
                          message=ChatCompletionMessage(content=c.content),
                          ponder=ThinkingInfo(**c.info))
               for i, c in enumerate(outcome.choices)]
    return ChatCompletionResponse(model=req.model, choices=choices, usage=usage(outcome))


async def _stream(job: Job, req: ChatCompletionRequest, progress_s: float) -> AsyncIterator[str]:
    cid, created = new_id("chatcmpl-"), now()

    def chunk(choices: list[ChunkChoice], **extra) -> str:
        c = ChatCompletionChunk(id=cid, created=created, model=req.model, choices=choices,
                                **extra)
        return sse(c.model_dump(mode="json"))

    try:
        yield chunk([ChunkChoice(index=i, delta=ChoiceDelta(role="assistant", content=""))
                     for i in range(req.n)])
        async for p in ticks(job, progress_s):
            # Progress rides on an empty delta, so clients that only read deltas skip it.
            yield chunk([ChunkChoice(index=0, delta=ChoiceDelta())],
                        reasoning_progress=ThinkingProgress(**p))
        err = failure(job)
        if err is not None:
            yield sse(error_event(err))
            return
        outcome = job.future.result()
        for i, c in enumerate(outcome.choices):
            if c.content:
                yield chunk([ChunkChoice(index=i, delta=ChoiceDelta(content=c.content))])
            yield chunk([ChunkChoice(index=i, delta=ChoiceDelta(), finish_reason=c.finish_reason,
                                     ponder=ThinkingInfo(**c.info))])
        if req.stream_options is not None and req.stream_options.include_usage:
            yield chunk([], usage=usage(outcome))
        yield sse("[DONE]")
    finally:
        if not job.future.done():
            job.cancel()  # the client went away mid-stream
