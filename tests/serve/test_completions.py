"""/v1/completions on a live server with a tiny real model: the official client, ponder's
HTTP backend and ``ponder eval --model http://...`` all get the model's own samples."""

import openai
import pytest
import torch

from ponder.lm.http import HTTPLM
from ponder.lm.model import ModelConfig, Transformer
from ponder.lm.native import NativeLM
from ponder.lm.tokenizer import CharTokenizer
from ponder.serve import Engine, create_app, serve_in_thread
from tests.cli.runner import run

PROMPT = "What is 2 + 3?\n<think>\n"


@pytest.fixture(scope="module")
def served():
    torch.manual_seed(0)
    tok = CharTokenizer()
    model = Transformer(ModelConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=2,
                                    d_model=32, d_ff=64, max_seq_len=1024))
    lm = NativeLM(model, tok)
    engine = Engine(lm, "tiny")
    with serve_in_thread(create_app(engine)) as url:
        yield url, lm
    engine.close()


def test_the_official_client_gets_the_models_own_samples(served):
    url, lm = served
    with openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0) as client:
        r = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=6, n=2,
                                      temperature=1.0, seed=3, logprobs=1)
    [local] = lm.generate([PROMPT], n=2, max_tokens=6, temperature=1.0, seed=3)
    assert [c.text for c in r.choices] == [c.text for c in local]
    assert r.usage.completion_tokens == sum(c.tokens for c in local)
    assert r.choices[0].logprobs.token_logprobs == pytest.approx(local[0].token_logprobs,
                                                                 abs=1e-4)
    with openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0) as client:
        with pytest.raises(openai.NotFoundError):
            client.completions.create(model="other", prompt=PROMPT, max_tokens=2)
        with pytest.raises(openai.BadRequestError, match="echo"):
            client.completions.create(model="tiny", prompt=PROMPT, max_tokens=2, echo=True)


def test_a_stop_string_is_removed_and_named(served):
    url, lm = served
    [[c]] = lm.generate([PROMPT], max_tokens=30, temperature=0)
    stop = c.text[3:5]  # some text greedy decoding writes
    remote = HTTPLM(url + "/v1", "tiny")
    [[got]] = remote.generate([PROMPT], max_tokens=30, temperature=0, stop=[stop])
    [[want]] = lm.generate([PROMPT], max_tokens=30, temperature=0, stop=[stop])
    assert got.text == want.text and got.finish_reason == want.finish_reason == "stop"
    # tokens are counted by the server when no local tokenizer is given
    assert remote.count_tokens(PROMPT) == want.prompt_tokens


def test_eval_runs_against_the_server(served, capsys, monkeypatch, tmp_path):
    url, _ = served
    code, out, err = run(capsys, "eval", "--model", f"{url}/v1#tiny", "--task", "arith",
                         "--difficulty", "1", "--n", "3", "--json", str(tmp_path / "e.json"))
    assert code == 0, err
    assert "arith" in out and (tmp_path / "e.json").exists()


def test_the_endpoint_can_be_turned_off():
    import httpx

    engine = Engine(NativeLM(Transformer(ModelConfig(vocab_size=CharTokenizer().vocab_size,
                                                     n_layer=1, n_head=2, d_model=16,
                                                     d_ff=32, max_seq_len=64)),
                             CharTokenizer()), "tiny")
    with serve_in_thread(create_app(engine, completions=False)) as url:
        r = httpx.post(url + "/v1/completions", json={"model": "tiny", "prompt": "a"})
    engine.close()
    assert r.status_code == 404
