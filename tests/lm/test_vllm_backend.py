"""VLLMLM against a stand-in ``vllm`` module that behaves like vLLM's offline API where it
matters here: stop strings are removed from the text unless
``include_stop_str_in_output``, EOS is detokenized unless special tokens are skipped,
``stop_reason`` names the stop string, ``logprobs`` / ``prompt_logprobs`` are lists of
``{token_id: Logprob}``."""

import json
import sys
import types
from dataclasses import dataclass

import pytest
import torch
from safetensors.torch import save_file

from ponder.errors import ModelError
from ponder.lm.vllm import NOT_INSTALLED, VLLMLM

EOS = "<eos>"


class CharTok:
    eos_token = EOS

    def encode(self, text, add_special_tokens=True):
        ids = [ord(c) for c in text]
        return ([1] if add_special_tokens else []) + ids  # a BOS token in front


@dataclass
class Logprob:
    logprob: float


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list
    cumulative_logprob: float
    logprobs: list | None
    finish_reason: str
    stop_reason: object = None


@dataclass
class RequestOutput:
    prompt_token_ids: list
    outputs: list
    prompt_logprobs: list | None = None


class SamplingParams:
    def __init__(self, **kw):
        self.__dict__.update(kw)


# what the stand-in model writes after a prompt, per sample index ("<eos>" is one token)
SCRIPT = {"p0": ["abc<eos>", "xyzxyzxyz"], "p1": ["hello world", "he<eos>"],
          "p2": ["never asked"]}


class LLM:
    last = None

    def __init__(self, model, **kw):
        self.model, self.kw, self.calls = model, kw, []
        LLM.last = self

    def get_tokenizer(self):
        return CharTok()

    def generate(self, prompts, params, use_tqdm=True):
        self.calls.append((prompts, params))
        params = params if isinstance(params, list) else [params] * len(prompts)
        return [self._one(p, sp) for p, sp in zip(prompts, params, strict=True)]

    def _one(self, prompt, sp):
        if isinstance(prompt, dict):  # token ids in: score them (prompt log-probs)
            ids = prompt["prompt_token_ids"]
            steps = [None] + [{t: Logprob(-0.01 * k)} for k, t in enumerate(ids[1:], 1)]
            return RequestOutput(ids, [], steps if sp.prompt_logprobs is not None else None)
        outs = []
        for j in range(sp.n):
            cont = SCRIPT[prompt][j % len(SCRIPT[prompt])]
            pieces = cont.replace(EOS, "\0").split("\0")
            toks = list(pieces[0]) + ([EOS] if len(pieces) > 1 else [])
            text, ids, finish, why = "", [], "length", None
            for tok in toks[:sp.max_tokens]:
                ids.append(2 if tok == EOS else ord(tok))
                if tok == EOS:
                    if not sp.skip_special_tokens and sp.include_stop_str_in_output:
                        text += EOS
                    finish = "stop"
                    break
                text += tok
                hits = [s for s in sp.stop or [] if s in text]
                if hits:
                    why = hits[0]
                    cut = text.index(why)
                    text = text[:cut + len(why)] if sp.include_stop_str_in_output else text[:cut]
                    finish = "stop"
                    break
            lps = [{t: Logprob(-0.5)} for t in ids] if sp.logprobs is not None else None
            outs.append(CompletionOutput(j, text, ids, -0.5 * len(ids), lps, finish, why))
        return RequestOutput(CharTok().encode(prompt), outs)


@pytest.fixture
def fake_vllm(monkeypatch):
    mod = types.ModuleType("vllm")
    mod.LLM, mod.SamplingParams = LLM, SamplingParams
    monkeypatch.setitem(sys.modules, "vllm", mod)
    return mod


@pytest.fixture
def model_dir(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"max_position_embeddings": 512}))
    save_file({"a": torch.zeros(3, 4), "b": torch.zeros(5)}, str(tmp_path / "model.safetensors"))
    return tmp_path


def test_missing_vllm_is_a_clear_model_error(monkeypatch, model_dir):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail
    with pytest.raises(ModelError) as e:
        VLLMLM(model_dir)
    assert str(e.value) == NOT_INSTALLED


def test_engine_arguments_context_and_flops(fake_vllm, model_dir):
    lm = VLLMLM(model_dir, tensor_parallel_size=2, max_model_len=64)
    assert LLM.last.model == str(model_dir)
    assert LLM.last.kw == {"tensor_parallel_size": 2, "max_model_len": 64}
    assert lm.max_context == 64
    assert lm.flops_per_token == 2.0 * (12 + 5)  # parameters read from safetensors headers
    assert VLLMLM(model_dir).max_context == 512
    assert VLLMLM(model_dir, flops_per_token=10.0).flops_per_token == 10.0
    with pytest.raises(ModelError, match="does not exist"):
        VLLMLM(model_dir / "missing")


def test_generate_maps_parameters_and_results(fake_vllm, model_dir):
    lm = VLLMLM(model_dir)
    out = lm.generate(["p0", "p2", "p1"], n=2, max_tokens=[8, 0, 20], temperature=0.7,
                      top_p=0.9, stop=["o w"], seed=7)
    [(prompts, params)] = LLM.last.calls
    assert prompts == ["p0", "p1"]  # the max_tokens=0 prompt is never sent
    assert [sp.max_tokens for sp in params] == [8, 20]
    for sp in params:
        assert (sp.n, sp.temperature, sp.top_p, sp.stop, sp.seed) == (2, 0.7, 0.9, ["o w"], 7)
        assert sp.logprobs == 0 and sp.include_stop_str_in_output
        assert not sp.skip_special_tokens and not sp.spaces_between_special_tokens

    (eos, length), (empty, _), (stop, eos2) = out
    assert (eos.text, eos.finish_reason, eos.tokens) == ("abc", "eos", 4)
    assert (length.text, length.finish_reason, length.tokens) == ("xyzxyzxy", "length", 8)
    assert (empty.text, empty.finish_reason, empty.tokens) == ("", "length", 0)
    assert empty.prompt_tokens == 3
    assert (stop.text, stop.finish_reason, stop.tokens) == ("hello w", "stop", 7)
    assert (eos2.text, eos2.finish_reason, eos2.tokens) == ("he", "eos", 3)
    assert stop.token_logprobs == [-0.5] * 7 and stop.logprob == pytest.approx(-3.5)
    assert eos.prompt_tokens == 3  # BOS + "p0"
    assert eos.flops == pytest.approx(lm.flops_per_token * (3 / 2 + 4))


def test_greedy_and_default_stop(fake_vllm, model_dir):
    lm = VLLMLM(model_dir)
    [[c]] = lm.generate(["p1"], temperature=0.0)
    [(_, [sp])] = LLM.last.calls
    assert sp.temperature == 0.0 and sp.stop is None and sp.max_tokens == 256
    assert (c.text, c.finish_reason) == ("hello world", "length")


def test_logprobs_reads_prompt_logprobs_of_the_completion(fake_vllm, model_dir):
    lm = VLLMLM(model_dir)
    out = lm.logprobs(["ab", "c"], ["xy", "z"])
    [(inputs, sp)] = LLM.last.calls
    assert inputs == [{"prompt_token_ids": [1, 97, 98, 120, 121]},
                      {"prompt_token_ids": [1, 99, 122]}]
    assert sp.prompt_logprobs == 0 and sp.max_tokens == 1
    assert out == [pytest.approx([-0.03, -0.04]), pytest.approx([-0.02])]
    assert lm.count_tokens("abc") == 3
