"""Request and response bodies of the OpenAI-compatible API, as pydantic models.

Fields follow the order of OpenAI's API reference. Only what ponder implements is
accepted: any other argument is answered with a 400 naming it, rather than silently
ignored. ponder's own additions are grouped at the end of each model under
``# -- ponder extensions``; they are optional in requests and extra keys in responses,
which OpenAI clients keep (e.g. ``response.model_extra["ponder"]``).
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: ``auto`` is ponder's: the server predicts the difficulty and picks the level.
Effort = Literal["low", "medium", "high", "auto"]
SummaryStyle = Literal["auto", "concise", "detailed"]


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())


def omitted() -> Any:
    """An optional field left out of the JSON when unset (OpenAI omits, e.g., a stream
    delta's role after the first chunk)."""
    return Field(default=None, exclude_if=lambda v: v is None)


extension = omitted  # a ponder extension field: optional, absent unless set


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- shared -------------------------------------------------------------------------


class ThinkingInfo(BaseModel):
    """ponder extension: how an answer was thought out (never the thinking itself)."""

    effort: str  # the level asked for
    effort_used: str  # the level that ran (differs from ``effort`` for ``auto``)
    strategy: str  # the test-time strategy of ``ponder.think`` that ran
    samples: int  # chains of thought drawn, probes included
    predicted_difficulty: float | None = None  # 1 - agreement of the probes (``auto``)
    compute: dict[str, Any] = Field(default_factory=dict)  # ponder.think.Compute


class ThinkingProgress(BaseModel):
    """ponder extension: progress while thinking, sent in streams."""

    elapsed_s: float
    reasoning_tokens: int  # tokens generated so far, every sample included
    samples: int  # chains of thought finished so far
    stage: Literal["queued", "thinking", "summarizing"]


# -- /v1/chat/completions -------------------------------------------------------------


class TextPart(Request):
    type: Literal["text"]
    text: str


class ChatMessage(Request):
    role: Literal["developer", "system", "user", "assistant"]
    content: str | list[TextPart] | None = None
    name: str | None = None
    refusal: str | None = None  # assistant messages echoed back by clients


class StreamOptions(Request):
    include_usage: bool = False


class ChatCompletionRequest(Request):
    messages: list[ChatMessage] = Field(min_length=1)
    model: str
    max_completion_tokens: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)  # deprecated alias of the above
    metadata: dict[str, str] | None = None
    n: int = Field(default=1, ge=1, le=16)
    reasoning_effort: Effort | None = None
    seed: int | None = Field(default=None, ge=-2**63, lt=2**63)
    stop: str | list[str] | None = Field(default=None, max_length=4)
    store: bool | None = None  # accepted; nothing is ever stored
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    user: str | None = None


class ChatCompletionMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: None = None


class ChatChoice(BaseModel):
    finish_reason: Literal["stop", "length"]
    index: int
    message: ChatCompletionMessage
    logprobs: None = None
    # -- ponder extensions
    ponder: ThinkingInfo | None = extension()


class CompletionTokensDetails(BaseModel):
    reasoning_tokens: int
    accepted_prediction_tokens: int = 0
    rejected_prediction_tokens: int = 0


class PromptTokensDetails(BaseModel):
    cached_tokens: int = 0


class ChatUsage(BaseModel):
    completion_tokens: int  # reasoning tokens included
    prompt_tokens: int
    total_tokens: int
    completion_tokens_details: CompletionTokensDetails
    prompt_tokens_details: PromptTokensDetails = Field(default_factory=PromptTokensDetails)


class ChatCompletionResponse(BaseModel):
    id: str = Field(default_factory=lambda: new_id("chatcmpl-"))
    choices: list[ChatChoice]
    created: int = Field(default_factory=now)
    model: str
    object: Literal["chat.completion"] = "chat.completion"
    system_fingerprint: str | None = None
    usage: ChatUsage


class ChoiceDelta(BaseModel):
    role: Literal["assistant"] | None = omitted()
    content: str | None = omitted()


class ChunkChoice(BaseModel):
    delta: ChoiceDelta
    finish_reason: Literal["stop", "length"] | None = None
    index: int
    logprobs: None = None
    # -- ponder extensions (on the chunk that carries finish_reason)
    ponder: ThinkingInfo | None = extension()


class ChatCompletionChunk(BaseModel):
    id: str
    choices: list[ChunkChoice]
    created: int
    model: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    system_fingerprint: str | None = None
    usage: ChatUsage | None = None
    # -- ponder extensions
    reasoning_progress: ThinkingProgress | None = extension()


# -- /v1/responses --------------------------------------------------------------------


class InputText(Request):
    type: Literal["input_text", "output_text"]
    text: str
    annotations: list[Any] | None = None  # on output_text echoed back by clients


class InputMessage(Request):
    type: Literal["message"] = "message"
    role: Literal["developer", "system", "user", "assistant"]
    content: str | list[InputText]
    id: str | None = None
    status: str | None = None


class ReasoningParam(Request):
    effort: Effort | None = None
    summary: SummaryStyle | None = None
    generate_summary: SummaryStyle | None = None  # deprecated alias of ``summary``


class ResponsesRequest(Request):
    input: str | list[InputMessage]
    instructions: str | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    metadata: dict[str, str] | None = None
    model: str
    reasoning: ReasoningParam | None = None
    store: bool | None = None  # accepted; nothing is ever stored
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    user: str | None = None
    # -- ponder extensions
    seed: int | None = Field(default=None, ge=-2**63, lt=2**63)


class SummaryText(BaseModel):
    type: Literal["summary_text"] = "summary_text"
    text: str


class ReasoningItem(BaseModel):
    id: str = Field(default_factory=lambda: new_id("rs_"))
    type: Literal["reasoning"] = "reasoning"
    summary: list[SummaryText]
    status: Literal["in_progress", "completed", "incomplete"] = "completed"


class OutputText(BaseModel):
    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[Any] = Field(default_factory=list)


class OutputMessage(BaseModel):
    id: str = Field(default_factory=lambda: new_id("msg_"))
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    status: Literal["in_progress", "completed", "incomplete"] = "completed"
    content: list[OutputText]


class InputTokensDetails(BaseModel):
    cached_tokens: int = 0
    cache_write_tokens: int = 0


class OutputTokensDetails(BaseModel):
    reasoning_tokens: int


class ResponseUsage(BaseModel):
    input_tokens: int
    input_tokens_details: InputTokensDetails = Field(default_factory=InputTokensDetails)
    output_tokens: int  # reasoning tokens included
    output_tokens_details: OutputTokensDetails
    total_tokens: int


class IncompleteDetails(BaseModel):
    reason: Literal["max_output_tokens"]


class ResponseReasoning(BaseModel):
    effort: str | None = None
    summary: str | None = None


class ResponseObject(BaseModel):
    id: str = Field(default_factory=lambda: new_id("resp_"))
    object: Literal["response"] = "response"
    created_at: int = Field(default_factory=now)
    status: Literal["completed", "incomplete", "in_progress", "failed"]
    error: dict[str, Any] | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    model: str
    output: list[ReasoningItem | OutputMessage] = Field(default_factory=list)
    parallel_tool_calls: bool = False
    previous_response_id: None = None
    reasoning: ResponseReasoning = Field(default_factory=ResponseReasoning)
    store: bool = False
    temperature: float | None = None
    text: dict[str, Any] = Field(default_factory=lambda: {"format": {"type": "text"}})
    tool_choice: str = "none"
    tools: list[Any] = Field(default_factory=list)
    top_p: float | None = None
    truncation: Literal["disabled"] = "disabled"
    usage: ResponseUsage | None = None
    user: str | None = None
    # -- ponder extensions
    ponder: ThinkingInfo | None = extension()


# -- /v1/models -----------------------------------------------------------------------


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = Field(default_factory=now)
    owned_by: str = "ponder"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class CompletionRequest(Request):
    """OpenAI's (legacy) text completions: the raw model continuing the client's prompt."""

    model: str
    prompt: str | list[str]
    max_tokens: int = Field(default=16, ge=1)
    n: int = Field(default=1, ge=1, le=16)
    temperature: float = Field(default=1.0, ge=0, le=2)
    top_p: float = Field(default=1.0, gt=0, le=1)
    stop: str | list[str] | None = Field(default=None, max_length=4)
    seed: int | None = Field(default=None, ge=-2**63, lt=2**63)
    logprobs: int | None = Field(default=None, ge=0, le=5)
    echo: bool = False
    stream: bool = False
    user: str | None = None
