"""The official ``openai`` client against a live server: what users will run."""

import threading
import time

import openai
import pytest

from tests.serve.fakes import MODEL, FakeReasoner

Q = [{"role": "user", "content": "What is 17 + 25?"}]


@pytest.fixture
def client(server):
    with openai.OpenAI(base_url=server + "/v1", api_key="unused", max_retries=0) as c:
        yield c


def test_models_list(client):
    assert [m.id for m in client.models.list()] == [MODEL]


def test_chat_completion_bills_hidden_reasoning(client):
    r = client.chat.completions.create(model=MODEL, messages=Q, reasoning_effort="low")
    assert r.choices[0].message.content == "Answer: 42"
    assert r.choices[0].finish_reason == "stop"
    details = r.usage.completion_tokens_details
    assert details.reasoning_tokens == r.usage.completion_tokens - len("Answer: 42") > 0
    assert r.choices[0].model_extra["ponder"]["strategy"] == "greedy"


def test_auto_effort_and_several_choices(client):
    r = client.chat.completions.create(model=MODEL, messages=Q, reasoning_effort="auto", n=2)
    assert [c.index for c in r.choices] == [0, 1]
    assert all(c.message.content == "Answer: 42" for c in r.choices)
    assert r.choices[0].model_extra["ponder"]["effort_used"] == "low"


def test_chat_stream_with_usage(client):
    stream = client.chat.completions.create(model=MODEL, messages=Q, reasoning_effort="medium",
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Answer: 42"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert any("reasoning_progress" in (c.model_extra or {}) for c in chunks)
    assert chunks[-1].usage.completion_tokens_details.reasoning_tokens > 0


def test_responses_create_returns_summary_and_answer(client):
    r = client.responses.create(model=MODEL, input="What is 17 + 25?",
                                reasoning={"effort": "medium", "summary": "detailed"})
    assert r.status == "completed" and r.output_text == "Answer: 42"
    reasoning = r.output[0]
    assert reasoning.type == "reasoning"
    text = " ".join(s.text for s in reasoning.summary)
    assert "Key results: a = 17; b = 42." in text and "5 of 5 independent attempts" in text
    assert r.usage.output_tokens_details.reasoning_tokens == r.usage.output_tokens - 10


def test_responses_without_summary_request_have_an_empty_one(client):
    r = client.responses.create(model=MODEL, input="What is 1 + 1?", reasoning={"effort": "low"})
    assert r.output[0].summary == [] and r.output_text == "Answer: 2"


def test_responses_stream(client):
    with client.responses.stream(model=MODEL, input="Use 3 5 7 to reach 22",
                                 reasoning={"effort": "low", "summary": "concise"}) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.reasoning_summary_text.delta" in kinds
    assert final.output_text == "Answer: 3 * 5 + 7"
    assert "2 backtracks" in final.output[0].summary[0].text


def test_errors_raise_the_client_exceptions(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="gpt-9", messages=Q)
    assert e.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=Q, reasoning_effort="extreme")
    assert e.value.param == "reasoning_effort"
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model=MODEL, input="caf\u00e9 + 1")
    assert e.value.code == "unsupported_characters"


def test_full_queue_raises_rate_limit_error(make_engine, live):
    gate = threading.Event()  # holds the first request until the second has been refused
    engine = make_engine(FakeReasoner(gate=gate), max_pending=1, workers=1)
    url = live(engine)
    with openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0) as c:
        busy = threading.Thread(target=c.chat.completions.create,
                                kwargs={"model": MODEL, "messages": Q, "reasoning_effort": "low"})
        busy.start()
        while engine.pending == 0:
            time.sleep(0.005)
        try:
            with pytest.raises(openai.RateLimitError):
                c.chat.completions.create(model=MODEL, messages=Q, reasoning_effort="low")
        finally:
            gate.set()
        busy.join()
