"""The wire format: requests are checked strictly, responses validate against the
official client's own types (strict pydantic validation, not its lenient parsing)."""

import openai.types.chat as oai_chat
import openai.types.responses as oai_responses
import pytest
from pydantic import TypeAdapter, ValidationError

from ponder.serve.chat import usage
from ponder.serve.engine import Choice, Outcome
from ponder.serve.errors import _param
from ponder.serve.protocol import (
    ChatChoice,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChoiceDelta,
    ChunkChoice,
    ResponsesRequest,
    ThinkingInfo,
    ThinkingProgress,
)
from ponder.serve.responses import _item_events, build, input_text

INFO = dict(effort="auto", effort_used="medium", strategy="vote", samples=9,
            predicted_difficulty=0.5, compute={"generated_tokens": 300})
MSG = [{"role": "user", "content": "What is 2 + 3?"}]


def outcome(content="Answer: 5", finish="stop", summary=("Worked through 3 steps.",)):
    return Outcome([Choice(content, finish, 300, 291, list(summary), INFO)], prompt_tokens=20)


def test_chat_request_accepts_the_openai_fields_and_rejects_others():
    req = ChatCompletionRequest(model="m", messages=MSG, reasoning_effort="auto", n=2,
                                max_completion_tokens=64, stop="\n", stream=True,
                                stream_options={"include_usage": True}, seed=3, user="u")
    assert (req.reasoning_effort, req.n, req.stream_options.include_usage) == ("auto", 2, True)
    parts = ChatCompletionRequest(model="m", messages=[
        {"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    assert parts.messages[0].content[0].text == "hi"
    for bad in [{"tools": []}, {"reasoning_effort": "extreme"}, {"n": 0},
                {"temperature": 2.5}, {"top_p": 0}, {"stop": ["a", "b", "c", "d", "e"]},
                {"messages": []}, {"messages": [{"role": "tool", "content": "x"}]}]:
        with pytest.raises(ValidationError):
            ChatCompletionRequest(**{"model": "m", "messages": MSG, **bad})


def test_responses_request_input_forms():
    req = ResponsesRequest(model="m", instructions="Be brief.", input=[
        {"role": "user", "content": [{"type": "input_text", "text": "What is 2 + 3?"}]}],
        reasoning={"effort": "high", "summary": "concise"})
    assert input_text(req) == "Be brief.\nWhat is 2 + 3?"
    assert input_text(ResponsesRequest(model="m", input="hi")) == "hi"
    with pytest.raises(ValidationError):
        ResponsesRequest(model="m", input="hi", reasoning={"summary": "long"})


def test_extension_fields_appear_only_when_set():
    chunk = ChatCompletionChunk(id="c", created=1, model="m",
                                choices=[ChunkChoice(index=0, delta=ChoiceDelta())])
    assert "reasoning_progress" not in chunk.model_dump()
    assert "ponder" not in chunk.model_dump()["choices"][0]
    chunk.reasoning_progress = ThinkingProgress(elapsed_s=1.5, reasoning_tokens=40,
                                                samples=2, stage="thinking")
    assert chunk.model_dump()["reasoning_progress"]["reasoning_tokens"] == 40


def test_chat_objects_validate_against_the_official_types():
    out = outcome()
    resp = ChatCompletionResponse(model="m", usage=usage(out), choices=[ChatChoice(
        index=0, finish_reason="stop", message=ChatCompletionMessage(content="Answer: 5"),
        ponder=ThinkingInfo(**INFO))])
    parsed = oai_chat.ChatCompletion.model_validate(resp.model_dump(mode="json"))
    assert parsed.usage.completion_tokens_details.reasoning_tokens == 291
    assert parsed.usage.total_tokens == 320 and parsed.model_extra == {}
    assert parsed.choices[0].model_extra["ponder"]["effort_used"] == "medium"
    chunk = ChatCompletionChunk(id="c", created=1, model="m", choices=[
        ChunkChoice(index=0, delta=ChoiceDelta(content="Answer: 5"), finish_reason="stop")])
    oai_chat.ChatCompletionChunk.model_validate(chunk.model_dump(mode="json"))


def test_response_object_validates_against_the_official_types():
    req = ResponsesRequest(model="m", input="What is 2 + 3?", reasoning={"summary": "auto"})
    parsed = oai_responses.Response.model_validate(
        build(req, "medium", outcome()).model_dump(mode="json"))
    assert [o.type for o in parsed.output] == ["reasoning", "message"]
    assert parsed.output[0].summary[0].text == "Worked through 3 steps."
    assert parsed.output_text == "Answer: 5" and parsed.status == "completed"
    assert parsed.usage.output_tokens_details.reasoning_tokens == 291
    assert parsed.reasoning.effort == "medium"


def test_cut_thinking_makes_an_incomplete_response_without_a_message():
    req = ResponsesRequest(model="m", input="long", max_output_tokens=50)
    resp = build(req, "low", outcome(content="", finish="length", summary=()))
    assert resp.status == "incomplete" and resp.incomplete_details.reason == "max_output_tokens"
    assert [o.type for o in resp.output] == ["reasoning"] and resp.output[0].summary == []


def test_stream_events_validate_against_the_official_event_types():
    resp = build(ResponsesRequest(model="m", input="q"), "low", outcome())
    events = [e for i, item in enumerate(resp.output) for e in _item_events(i, item)]
    for e in events:
        e["sequence_number"] = 0
    adapter = TypeAdapter(oai_responses.ResponseStreamEvent)
    parsed = [adapter.validate_python(e) for e in events]
    assert [type(p).__name__ for p in parsed][:2] == ["ResponseOutputItemAddedEvent",
                                                      "ResponseReasoningSummaryPartAddedEvent"]
    deltas = [p.delta for p in parsed if p.type == "response.output_text.delta"]
    assert deltas == ["Answer: 5"]


def test_error_params_are_written_like_openai():
    assert _param(("body", "messages", 0, "role")) == "messages[0].role"
    assert _param(("body", "reasoning", "effort")) == "reasoning.effort"
    assert _param(("body",)) is None
