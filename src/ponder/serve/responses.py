"""POST /v1/responses.

``output`` is a reasoning item, whose ``summary`` holds the summary of the hidden
chain of thought when ``reasoning.summary`` asks for one (empty otherwise, as with
OpenAI), then the assistant message with the visible answer. A response whose thinking
ran out of tokens is ``incomplete`` (reason ``max_output_tokens``) and has no message
when nothing visible was written. Streaming sends OpenAI's Responses events, plus
``ponder.reasoning_progress`` events while the model thinks.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

from ponder.lm.template import Message, join_messages
from ponder.serve.engine import Engine, Job, Outcome
from ponder.serve.errors import model_not_found
from ponder.serve.protocol import (
    IncompleteDetails,
    InputMessage,
    OutputMessage,
    OutputText,
    OutputTokensDetails,
    ReasoningItem,
    ResponseObject,
    ResponseReasoning,
    ResponsesRequest,
    ResponseUsage,
    SummaryText,
    ThinkingInfo,
)
from ponder.serve.streaming import failure, sse, ticks, wait


def input_messages(req: ResponsesRequest) -> list[Message]:
    """The instructions (as a system message) and the input, with their roles."""
    def text(m: InputMessage) -> str:
        return m.content if isinstance(m.content, str) else "".join(p.text for p in m.content)

    out = [{"role": "system", "content": req.instructions}] if req.instructions else []
    if isinstance(req.input, str):
        return [*out, {"role": "user", "content": req.input}]
    return out + [{"role": m.role, "content": text(m)} for m in req.input]


def input_text(req: ResponsesRequest) -> str:
    return join_messages(input_messages(req))


def summary_style(req: ResponsesRequest) -> str | None:
    r = req.reasoning
    return (r.summary or r.generate_summary) if r is not None else None


def _shell(req: ResponsesRequest, effort: str, status: str) -> ResponseObject:
    return ResponseObject(
        status=status, model=req.model, instructions=req.instructions,
        max_output_tokens=req.max_output_tokens, metadata=req.metadata or {},
        reasoning=ResponseReasoning(effort=effort, summary=summary_style(req)),
        temperature=req.temperature, top_p=req.top_p, user=req.user)


def build(req: ResponsesRequest, effort: str, outcome: Outcome,
          shell: ResponseObject | None = None) -> ResponseObject:
    """The finished response object (``shell`` keeps the id a stream announced)."""
    [c] = outcome.choices
    resp = shell.model_copy() if shell else _shell(req, effort, "completed")
    incomplete = c.finish_reason == "length"
    resp.status = "incomplete" if incomplete else "completed"
    resp.incomplete_details = IncompleteDetails(reason="max_output_tokens") if incomplete \
        else None
    status = "incomplete" if incomplete else "completed"
    resp.output = [ReasoningItem(summary=[SummaryText(text=t) for t in c.summary],
                                 status=status)]
    if c.content or not incomplete:
        resp.output.append(OutputMessage(status=status,
                                         content=[OutputText(text=c.content)]))
    resp.usage = ResponseUsage(
        input_tokens=outcome.prompt_tokens, output_tokens=c.completion_tokens,
        output_tokens_details=OutputTokensDetails(reasoning_tokens=c.reasoning_tokens),
        total_tokens=outcome.prompt_tokens + c.completion_tokens)
    resp.ponder = ThinkingInfo(**c.info)
    return resp


async def create_response(engine: Engine, req: ResponsesRequest, request: Request,
                          progress_s: float) -> ResponseObject | StreamingResponse:
    if req.model != engine.name:
        raise model_not_found(req.model)
    messages = input_messages(req)
    query = engine.prepare(
        join_messages(messages), messages=messages, param="input",
        effort=req.reasoning.effort if req.reasoning else None,
        max_completion_tokens=req.max_output_tokens, temperature=req.temperature,
        top_p=req.top_p, seed=req.seed, summary=summary_style(req))
    job = engine.submit(query)
    if req.stream:
        return StreamingResponse(_stream(job, req, progress_s), media_type="text/event-stream")
    return build(req, query.effort, await wait(job, request))


async def _stream(job: Job, req: ResponsesRequest, progress_s: float) -> AsyncIterator[str]:
    seq = itertools.count()
    shell = _shell(req, job.query.effort, "in_progress")

    def event(kind: str, **data: Any) -> str:
        return sse({"type": kind, "sequence_number": next(seq), **data}, event=kind)

    def dump(model: Any) -> dict[str, Any]:
        return model.model_dump(mode="json")

    try:
        yield event("response.created", response=dump(shell))
        yield event("response.in_progress", response=dump(shell))
        async for p in ticks(job, progress_s):
            yield event("ponder.reasoning_progress", response_id=shell.id, **p)
        err = failure(job)
        if err is not None:
            yield event("error", code=err.code, message=err.message, param=err.param)
            shell.status, shell.error = "failed", {"code": err.code, "message": err.message}
            yield event("response.failed", response=dump(shell))
            return
        final = build(req, job.query.effort, job.future.result(), shell)
        for index, item in enumerate(final.output):
            for e in _item_events(index, item):
                yield event(e.pop("type"), **e)
        yield event(f"response.{final.status}", response=dump(final))
    finally:
        if not job.future.done():
            job.cancel()  # the client went away mid-stream


def _item_events(index: int, item: ReasoningItem | OutputMessage) -> list[dict[str, Any]]:
    """The Responses events announcing one output item, its parts and their text."""
    where = {"item_id": item.id, "output_index": index}
    if isinstance(item, ReasoningItem):
        empty = item.model_copy(update={"summary": [], "status": "in_progress"})
        out = [{"type": "response.output_item.added", "output_index": index,
                "item": empty.model_dump(mode="json")}]
        for j, part in enumerate(item.summary):
            at = {**where, "summary_index": j}
            out += [
                {"type": "response.reasoning_summary_part.added", **at,
                 "part": {"type": "summary_text", "text": ""}},
                {"type": "response.reasoning_summary_text.delta", **at, "delta": part.text},
                {"type": "response.reasoning_summary_text.done", **at, "text": part.text},
                {"type": "response.reasoning_summary_part.done", **at,
                 "part": part.model_dump(mode="json")},
            ]
    else:
        empty = item.model_copy(update={"content": [], "status": "in_progress"})
        out = [{"type": "response.output_item.added", "output_index": index,
                "item": empty.model_dump(mode="json")}]
        for j, part in enumerate(item.content):
            at = {**where, "content_index": j}
            out += [
                {"type": "response.content_part.added", **at,
                 "part": {"type": "output_text", "text": "", "annotations": []}},
                {"type": "response.output_text.delta", **at, "delta": part.text,
                 "logprobs": []},
                {"type": "response.output_text.done", **at, "text": part.text,
                 "logprobs": []},
                {"type": "response.content_part.done", **at,
                 "part": part.model_dump(mode="json")},
            ]
    out.append({"type": "response.output_item.done", "output_index": index,
                "item": item.model_dump(mode="json")})
    return out
