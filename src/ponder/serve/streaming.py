"""Waiting for a job from the event loop: server-sent events, progress ticks, and
cancellation when the client goes away.

Generation runs in worker threads; handlers only await the job's future. A request
whose client disconnects is cancelled: a streaming response is cancelled by the server
(its generator's ``finally`` cancels the job), a plain one notices by polling.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request

from ponder.errors import InvalidInput
from ponder.lm.base import Cancelled
from ponder.serve.engine import Job, Outcome
from ponder.serve.errors import APIError, BadRequest, error_body


class ClientClosed(APIError):
    """The client went away before the answer was ready (nginx's 499)."""

    status = 499
    type = "invalid_request_error"


def sse(data: dict[str, Any] | str, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    body = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"{head}data: {body}\n\n"


async def wait(job: Job, request: Request, poll_s: float = 0.25) -> Outcome:
    """The job's outcome; cancels it if the client disconnects first."""
    fut = asyncio.wrap_future(job.future)
    try:
        while not fut.done():
            await asyncio.wait({fut}, timeout=poll_s)
            if not fut.done() and await request.is_disconnected():
                job.cancel()
                raise ClientClosed("The client closed the request.")
        return job.future.result()
    finally:
        if not job.future.done():
            job.cancel()
        fut.cancel()  # no-op when done; else nobody is left to read its outcome


async def ticks(job: Job, interval_s: float) -> AsyncIterator[dict[str, Any]]:
    """The job's progress every ``interval_s`` until it is done (then stops)."""
    fut = asyncio.wrap_future(job.future)
    try:
        yield job.progress()
        while not fut.done():
            await asyncio.wait({fut}, timeout=interval_s)
            if not fut.done():
                yield job.progress()
    finally:
        fut.cancel()  # no-op when done; else nobody is left to read its outcome


def failure(job: Job) -> APIError | None:
    """What went wrong with a finished job, as an API error (None if it succeeded)."""
    if job.future.cancelled():
        return APIError("The request was cancelled.", code="cancelled")
    exc = job.future.exception()
    if exc is None:
        return None
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, InvalidInput):
        return BadRequest(str(exc), code="invalid_value")
    if isinstance(exc, Cancelled):
        return APIError("The request was cancelled.", code="cancelled")
    return APIError(f"The server had an error while processing your request "
                    f"({type(exc).__name__}).")


def error_event(err: APIError) -> dict[str, Any]:
    return error_body(err.message, err.type, err.param, err.code)
