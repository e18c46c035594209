"""HTTPLM against a small OpenAI-compatible server run with uvicorn on 127.0.0.1.

The server's "model" writes ``<seed>/<sample>:`` then the prompt in capitals, one
character a token, and then EOS when the prompt ends with "!". Model "toy" answers like
vLLM (``stop_reason``), "toy-openai" like OpenAI (stop string removed, no reason)."""

import asyncio
import socket
import threading
import time

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from ponder.errors import InvalidInput, ModelError
from ponder.lm.http import HTTPLM
from ponder.lm.tokenizer import CharTokenizer

KEY = "sk-test"


def fake_completion(prompt: str, j: int, body: dict) -> dict:
    text = f"{body.get('seed')}/{j}:{prompt.upper()}"
    eos = prompt.endswith("!")
    finish, reason, out = "length", None, ""
    for ch in text[:body["max_tokens"]]:
        out += ch
        hit = next((s for s in body.get("stop") or [] if out.endswith(s)), None)
        if hit:
            out, finish, reason = out[:-len(hit)], "stop", hit  # OpenAI drops the stop string
            break
    else:
        if eos and len(text) < body["max_tokens"]:
            finish = "stop"
    n_tokens = len(out) + (len(reason) if reason else 0) + (finish == "stop" and not reason)
    choice = {"index": j, "text": out, "finish_reason": finish,
              "logprobs": {"tokens": ["x"] * n_tokens, "token_logprobs": [-0.25] * n_tokens,
                           "top_logprobs": [{}] * n_tokens, "text_offset": [0] * n_tokens}}
    if body["model"] == "toy":
        choice["stop_reason"] = reason
    if body["model"] == "toy-nologprobs":
        choice["logprobs"] = None
    return choice


def make_app(seen: list, load: dict) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/completions")
    async def completions(request: Request):
        body = await request.json()
        seen.append((body, request.headers.get("authorization")))
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return JSONResponse({"error": {"message": "invalid API key", "type": "auth"}}, 401)
        if body["model"] == "broken":
            return JSONResponse({"error": {"message": "engine crashed"}}, 500)
        if body["model"] == "garbage":
            return PlainTextResponse("this is not JSON")
        if not body["model"].startswith("toy"):
            return JSONResponse({"error": {"message": f"no model {body['model']}"}}, 404)
        load["now"] += 1  # requests in flight, to see the client's concurrency
        load["max"] = max(load["max"], load["now"])
        await asyncio.sleep(0.05)
        load["now"] -= 1
        choices = [fake_completion(body["prompt"], j, body) for j in range(body["n"])]
        used = sum(len(c["logprobs"]["tokens"]) if c["logprobs"] else 3 for c in choices)
        return {"id": "cmpl-1", "object": "text_completion", "model": body["model"],
                "choices": choices,
                "usage": {"prompt_tokens": len(body["prompt"]), "completion_tokens": used}}

    return app


@pytest.fixture(scope="module")
def server():
    seen: list = []
    load = {"now": 0, "max": 0}
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    srv = uvicorn.Server(uvicorn.Config(make_app(seen, load), log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.02)
    assert srv.started
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", seen, load
    srv.should_exit = True
    thread.join(timeout=10)


def test_generate_sends_openai_requests_and_maps_answers(server):
    url, seen, _ = server
    seen.clear()
    lm = HTTPLM(url + "/v1", "toy", api_key=KEY, flops_per_token=10.0)
    out = lm.generate(["hi", "go!"], n=2, max_tokens=[40, 7], temperature=0.5, top_p=0.8,
                      stop=["I"], seed=3)
    bodies = sorted((b for b, _ in seen), key=lambda b: b["prompt"])
    assert bodies == [
        {"model": "toy", "prompt": p, "n": 2, "max_tokens": m, "temperature": 0.5,
         "top_p": 0.8, "logprobs": 1, "stop": ["I"], "seed": 3}
        for p, m in [("go!", 7), ("hi", 40)]]
    assert {auth for _, auth in seen} == {f"Bearer {KEY}"}
    [a0, a1], [b0, b1] = out
    # stop string put back from stop_reason, and counted
    assert (a0.text, a0.finish_reason, a0.tokens) == ("3/0:HI", "stop", 6)
    assert (a1.text, a1.finish_reason) == ("3/1:HI", "stop")
    assert (b0.text, b0.finish_reason, b0.tokens) == ("3/0:GO!", "length", 7)
    assert a0.token_logprobs == [-0.25] * 6 and a0.logprob == pytest.approx(-1.5)
    assert a0.prompt_tokens == 2
    assert a0.flops == pytest.approx(10.0 * (2 / 2 + 6))


def test_eos_and_openai_style_stop(server):
    url, _, _ = server
    lm = HTTPLM(url, "toy", api_key=KEY)  # base URL without /v1 works too
    [[c]] = lm.generate(["ok!"], max_tokens=50, temperature=0, seed=1)
    assert (c.text, c.finish_reason, c.tokens) == ("1/0:OK!", "eos", 8)
    plain = HTTPLM(url, "toy-openai", api_key=KEY)
    [[s]] = plain.generate(["hi"], max_tokens=50, stop=["H"], seed=1)
    assert (s.text, s.finish_reason) == ("1/0:", "stop")  # OpenAI does not say which stop
    [[e]] = plain.generate(["ok!"], max_tokens=50, seed=1)
    assert e.finish_reason == "eos"


def test_many_prompts_keep_their_order_and_go_out_concurrently(server):
    url, _, load = server
    lm = HTTPLM(url, "toy", api_key=KEY, max_concurrency=4)
    prompts = [f"p{i}" for i in range(12)]
    load["max"] = 0
    out = lm.generate(prompts, max_tokens=30, seed=0)
    assert [row[0].text for row in out] == [f"0/0:P{i}" for i in range(12)]
    assert 1 < load["max"] <= 4


def test_missing_logprobs_fall_back_to_usage(server):
    url, _, _ = server
    lm = HTTPLM(url, "toy-nologprobs", api_key=KEY)
    [[a, b]] = lm.generate(["hi"], n=2, max_tokens=50)
    assert a.token_logprobs is None and a.tokens == 3  # usage 6 tokens over 2 samples


def test_http_failures_are_model_errors(server):
    url, _, _ = server
    with pytest.raises(ModelError, match="401.*invalid API key"):
        HTTPLM(url, "toy", api_key="wrong").generate(["hi"])
    with pytest.raises(ModelError, match="500.*engine crashed"):
        HTTPLM(url, "broken", api_key=KEY).generate(["hi"])
    with pytest.raises(ModelError, match="404.*no model nope"):
        HTTPLM(url, "nope", api_key=KEY).generate(["hi"])
    with pytest.raises(ModelError, match="invalid JSON"):
        HTTPLM(url, "garbage", api_key=KEY).generate(["hi"])
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(ModelError, match="cannot reach"):
        HTTPLM(f"http://127.0.0.1:{port}", "toy", timeout=5).generate(["hi"])


def test_arguments_and_tokens(server, tmp_path):
    url, _, _ = server
    with pytest.raises(InvalidInput, match="http"):
        HTTPLM("localhost:8000", "toy")
    with pytest.raises(InvalidInput, match="model"):
        HTTPLM(url, "")
    lm = HTTPLM(url, "toy", api_key=KEY)
    # no local tokenizer: the server's own count (this one counts characters)
    assert lm.count_tokens("abcd") == 4 and lm.count_tokens("") == 0
    CharTokenizer().save(tmp_path)
    assert HTTPLM(url, "toy", tokenizer=tmp_path).count_tokens("a<think>b") == 3
    assert lm.generate([], max_tokens=5) == []
    with pytest.raises(InvalidInput, match="temperature"):
        lm.generate(["hi"], temperature=-1)
