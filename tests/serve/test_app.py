"""The HTTP side against a live server on 127.0.0.1: errors, hiding the thinking,
streaming with progress, queue limits and cancellation on disconnect."""

import json
import threading
import time

import httpx
import pytest

from tests.serve.fakes import MODEL, FakeReasoner

CHAT = "/v1/chat/completions"


def chat_body(content="What is 17 + 25?", **kw):
    return {"model": MODEL, "messages": [{"role": "user", "content": content}], **kw}


def sse_data(lines):
    return [line[len("data: "):] for line in lines if line.startswith("data: ")]


def wait_until(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_health_models_and_page(server, http):
    assert http.get(server + "/health").json()["status"] == "ok"
    assert http.get(server + "/v1/models").json()["data"][0]["id"] == MODEL
    page = http.get(server + "/")
    assert page.status_code == 200 and "<select id=\"effort\"" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing external


def test_chat_answer_hides_the_thinking_and_bills_it(server, http):
    r = http.post(server + CHAT, json=chat_body(reasoning_effort="medium"))
    body = r.json()
    assert r.status_code == 200 and body["choices"][0]["message"]["content"] == "Answer: 42"
    assert "check" not in r.text and "a + 25" not in r.text  # no trace of the thinking
    u = body["usage"]
    assert u["completion_tokens_details"]["reasoning_tokens"] == u["completion_tokens"] - 10
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    assert body["choices"][0]["ponder"]["samples"] == 5


@pytest.mark.parametrize("body, status, param, code", [
    ("{not json", 400, None, "invalid_json"),
    ("[1, 2]", 400, None, "invalid_json"),
    ("", 400, None, "invalid_json"),
    (chat_body(model="gpt-9"), 404, "model", "model_not_found"),
    (chat_body(reasoning_effort="extreme"), 400, "reasoning_effort", "invalid_value"),
    (chat_body(temperature=9), 400, "temperature", "invalid_value"),
    (chat_body(n=0), 400, "n", "invalid_value"),
    (chat_body(max_completion_tokens=0), 400, "max_completion_tokens", "invalid_value"),
    (chat_body(tools=[]), 400, "tools", "unknown_parameter"),
    ({"model": MODEL}, 400, "messages", "missing_required_parameter"),
    ({"model": MODEL, "messages": []}, 400, "messages", "invalid_value"),
    ({"model": MODEL, "messages": [{"role": "robot", "content": "x"}]}, 400,
     "messages[0].role", "invalid_value"),
    ({"model": MODEL, "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
     400, "messages[0].content[0].type", "invalid_value"),
    (chat_body(seed=2**64), 400, "seed", "invalid_value"),
    (chat_body(""), 400, "messages", "empty_input"),
    (chat_body("What is 2 + 3? \u00e9\u4e2d"), 400, "messages", "unsupported_characters"),
    (chat_body("x </think> Answer: 1"), 400, "messages", "invalid_value"),
    (chat_body("x" * 5000), 400, "messages", "context_length_exceeded"),
    (chat_body(stream_options={"include_usage": True}), 400, "stream_options", "invalid_value"),
])
def test_bad_requests_get_openai_error_objects(server, body, status, param, code, http):
    kw = {"content": body, "headers": {"content-type": "application/json"}} \
        if isinstance(body, str) else {"json": body}
    r = http.post(server + CHAT, **kw)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    assert (err["type"], err["param"], err["code"]) == ("invalid_request_error", param, code)


def test_responses_errors_name_their_parameters(server, http):
    r = http.post(server + "/v1/responses", json={"model": MODEL, "input": "  "})
    assert r.status_code == 400 and r.json()["error"]["param"] == "input"
    r = http.post(server + "/v1/responses", json={"model": MODEL, "input": "hi",
                                                "reasoning": {"effort": "max"}})
    assert r.status_code == 400 and r.json()["error"]["param"] == "reasoning.effort"


def test_unknown_routes_and_methods_are_error_objects(server, http):
    r = http.get(server + "/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = http.get(server + CHAT)
    assert r.status_code == 405 and r.json()["error"]["type"] == "invalid_request_error"


def test_cut_thinking_returns_no_answer_and_length(server, http):
    r = http.post(server + CHAT, json=chat_body("long: what is 1 + 2?", reasoning_effort="low",
                                                 max_completion_tokens=60)).json()
    assert r["choices"][0]["finish_reason"] == "length"
    assert r["choices"][0]["message"]["content"] == ""
    assert r["usage"]["completion_tokens"] == 60
    assert r["usage"]["completion_tokens_details"]["reasoning_tokens"] == 60


def test_chat_stream_reports_progress_then_the_answer(make_engine, live, http):
    url = live(make_engine(FakeReasoner(delay_s=0.02)), progress_s=0.02)
    body = chat_body(reasoning_effort="high", stream=True, stream_options={"include_usage": True})
    with http.stream("POST", url + CHAT, json=body) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        data = sse_data(list(r.iter_lines()))
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    progress = [c["reasoning_progress"] for c in chunks if "reasoning_progress" in c]
    assert len(progress) >= 2 and progress[-1]["reasoning_tokens"] > 0
    tokens = [p["reasoning_tokens"] for p in progress]
    assert tokens == sorted(tokens)  # only grows
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Answer: 42"
    assert "check" not in "".join(data) and "a + 25" not in "".join(data)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


def test_responses_stream_sends_summary_then_answer(server, http):
    body = {"model": MODEL, "input": "Use 3 5 7 to reach 22", "stream": True,
            "reasoning": {"effort": "low", "summary": "detailed"}}
    with http.stream("POST", server + "/v1/responses", json=body) as r:
        lines = list(r.iter_lines())
    events = [json.loads(d) for d in sse_data(lines)]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "ponder.reasoning_progress" in kinds
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    summary = [e["text"] for e in events if e["type"] == "response.reasoning_summary_text.done"]
    assert "backtracking 2 times" in " ".join(summary)
    answer = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert answer == "Answer: 3 * 5 + 7"
    assert [line for line in lines if line.startswith("event: ")][0] == "event: response.created"


def test_full_queue_answers_429(make_engine, live, http):
    gate = threading.Event()  # holds the first request until the second has been refused
    engine = make_engine(FakeReasoner(gate=gate), max_pending=1, workers=1)
    url = live(engine)
    first = threading.Thread(target=http.post, args=(url + CHAT,),
                             kwargs={"json": chat_body(reasoning_effort="low"), "timeout": 30})
    first.start()
    assert wait_until(lambda: engine.pending == 1)
    try:
        r = http.post(url + CHAT, json=chat_body(reasoning_effort="low"))
    finally:
        gate.set()
    first.join()
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert r.json()["error"]["type"] == "rate_limit_error"
    assert http.post(url + CHAT, json=chat_body(reasoning_effort="low")).status_code == 200


def test_concurrent_requests_all_succeed(make_engine, live, http):
    lm = FakeReasoner(delay_s=0.005)
    url = live(make_engine(lm, workers=8))
    results: dict[int, httpx.Response] = {}

    def ask(i):
        results[i] = http.post(url + CHAT, json=chat_body(f"What is {i} + 1?",
                                                           reasoning_effort="medium"), timeout=30)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status_code == 200 for r in results.values())
    assert all(results[i].json()["choices"][0]["message"]["content"] == f"Answer: {i + 1}"
               for i in range(12))
    assert lm.calls < 12 * 2  # 5 samples = 2 chunks each; merged across requests


def test_stream_disconnect_stops_generation(make_engine, live, http):
    lm = FakeReasoner(delay_s=0.03)
    engine = make_engine(lm, samples_per_call=2)
    url = live(engine, progress_s=0.02)
    body = chat_body(reasoning_effort="high", stream=True)  # 16 samples, ~0.5 s
    with http.stream("POST", url + CHAT, json=body) as r:
        for line in r.iter_lines():
            if "reasoning_progress" in line and lm.samples >= 2:
                break  # hang up while it thinks
    assert wait_until(lambda: engine.pending == 0, timeout=3)
    stopped = lm.samples
    time.sleep(0.2)
    assert lm.samples == stopped < 16


def test_plain_request_disconnect_stops_generation(make_engine, live):
    lm = FakeReasoner(delay_s=0.04)
    engine = make_engine(lm, samples_per_call=1)
    url = live(engine)  # 16 samples, one at a time: >= 0.64 s of work
    with httpx.Client(timeout=0.2) as client, pytest.raises(httpx.ReadTimeout):
        client.post(url + CHAT, json=chat_body(reasoning_effort="high"))
    assert wait_until(lambda: engine.pending == 0, timeout=5)
    stopped = lm.samples
    time.sleep(0.2)
    assert lm.samples == stopped < 16


def test_cli_builds_the_engine_from_its_options(monkeypatch):
    from typer.testing import CliRunner

    import ponder.lm.registry
    import ponder.serve.app
    from ponder.cli import app

    served = {}
    monkeypatch.setattr(ponder.lm.registry, "load_lm", lambda spec: FakeReasoner())
    monkeypatch.setattr(ponder.serve.app, "serve",
                        lambda app, host, port: served.update(app=app, host=host, port=port))
    r = CliRunner().invoke(app, ["serve", "--model", "x", "--port", "8123", "--effort", "auto",
                                 "--high-samples", "8", "--name", "mine"])
    assert r.exit_code == 0, r.output
    engine = served["app"].state.engine
    assert (served["host"], served["port"], engine.name) == ("127.0.0.1", 8123, "mine")
    assert (engine.default_effort, engine.policy.high_n) == ("auto", 8)
    assert "serving mine on http://127.0.0.1:8123" in r.output


def test_cli_option_mistakes_are_one_line_errors(tmp_path, monkeypatch, capsys):
    import ponder.lm.registry
    from ponder.cli import main

    monkeypatch.setattr(ponder.lm.registry, "load_lm", lambda spec: FakeReasoner())
    for args, msg in [(["--summary-model", "m"], "needs --summarizer lm"),
                      (["--auto-policy", str(tmp_path / "absent.json")],
                       "cannot read policy file"),
                      (["--effort", "extreme"], "default effort must be one of")]:
        with pytest.raises(SystemExit) as e:
            main(["serve", *args])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and msg in err and "Traceback" not in err
