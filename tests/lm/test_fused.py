"""The compiled decoding step: the same logits and cache writes as the uncompiled one, one
compilation for every step of a run, and a fallback where compiling fails."""

import warnings

import pytest
import torch

from ponder.errors import ConfigError, InvalidInput
from ponder.lm import fused
from ponder.lm.fused import FusedDecoder
from ponder.lm.sampler import Sampler
from tests.lm.test_sampler import TOK, tiny


def no_fallback(caught: list[warnings.WarningMessage]) -> None:
    """The compiled step really ran: compiling did not fail over to the plain step."""
    failed = [w for w in caught if "compiling the decoding step failed" in str(w.message)]
    assert not failed, failed[0].message


@pytest.mark.parametrize("digits,kv_heads", [(False, 0), (True, 0), (False, 2)])
@torch.no_grad()
def test_compiled_step_equals_uncompiled_on_any_rows_columns_and_mask(digits, kv_heads):
    # with digits: a model with digit-index embeddings, each row at its own run; with
    # kv_heads: grouped-query attention
    model = tiny(n_kv_head=kv_heads,
                 **(dict(digit_index=8, digit_first=TOK.stoi["0"]) if digits else {}))
    plain, comp = FusedDecoder(model), FusedDecoder(model, compile=True)
    R, C = 9, 40
    g = torch.Generator().manual_seed(1)
    base = [torch.randn(kv.shape, generator=g) for kv in plain.new_cache(R, C)]
    real = torch.rand(R, C, generator=g) > 0.3
    tok = torch.randint(3, TOK.vocab_size, (R,), generator=g)
    pos = torch.randint(5, 60, (R,), generator=g)
    run = torch.randint(0, 12, (R,), generator=g) if digits else None  # past the table too
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # whole rows from 0, a later run of rows, one row; masked and dense; a span that
        # starts past column 0; a position past the context (capped)
        for a, b, first, col, masked in [(0, 8, 0, 20, True), (0, 8, 0, 21, False),
                                         (3, 7, 5, 22, True), (2, 3, 4, 30, True),
                                         (0, 5, 7, 39, False)]:
            c1, c2 = [x.clone() for x in base], [x.clone() for x in base]
            p = pos.clone()
            p[a] = 500
            want = plain.decode(tok, p, c1, real, a, b, first, col, masked, run)
            got = comp.decode(tok, p, c2, real, a, b, first, col, masked, run)
            assert got.shape == (b - a, TOK.vocab_size)
            torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
            for x, y in zip(c1, c2, strict=True):  # the same column written, nothing else
                torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-5)
            assert not torch.equal(c1[0][:, a:b, :, col], base[0][:, a:b, :, col])
            if digits:  # the runs are read: other runs give other logits
                other = plain.decode(tok, p, [x.clone() for x in base], real, a, b, first,
                                     col, masked, (run + 1) % 12)
                assert not torch.allclose(other, want, atol=1e-3)
    no_fallback(caught)


def test_compiled_sampler_gives_the_uncompiled_texts():
    """Through the engine: ragged prompts, several samples each, greedy and seeded."""
    model = tiny()
    prompts = [TOK.encode(x, bos=True) for x in ("12+7=", "a", "the longest prompt", "7")]
    plain, comp = Sampler(model, TOK), Sampler(model, TOK, compile=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for temperature in (0.0, 1.0):
            kw = dict(n=3, max_tokens=24, temperature=temperature, seeds=range(12))
            want = plain.generate(prompts, **kw)
            got = comp.generate(prompts, **kw)
            assert [[c.text for c in r] for r in got] == [[c.text for c in r] for r in want]
            for r, s in zip(got, want, strict=True):
                for x, y in zip(r, s, strict=True):
                    assert x.logprob == pytest.approx(y.logprob, abs=1e-3)
    no_fallback(caught)
    # the compiled step, not the decoder snapshot, is what is cached: weights changed by
    # a training step show in the next generation
    with torch.no_grad():
        model.lm_head.weight.mul_(-1.0)
    assert comp.generate(prompts[:1], max_tokens=8, temperature=0.0)[0][0].text == \
        plain.generate(prompts[:1], max_tokens=8, temperature=0.0)[0][0].text


def test_a_failing_compiler_falls_back_with_a_warning(monkeypatch):
    def broken(fn, **kw):
        def run(*args):
            raise RuntimeError("no C++ compiler found\nmore detail")
        return run

    monkeypatch.setattr(fused, "_COMPILED", None)
    monkeypatch.setattr(torch, "compile", broken)
    model = tiny()
    prompts = [TOK.encode("12+7=", bos=True), TOK.encode("a", bos=True)]
    want = Sampler(model, TOK).generate(prompts, max_tokens=10, temperature=0.0)
    with pytest.warns(RuntimeWarning, match="no C.. compiler found"):
        got = Sampler(model, TOK, compile=True).generate(prompts, max_tokens=10,
                                                         temperature=0.0)
    assert [r[0].text for r in got] == [r[0].text for r in want]
    monkeypatch.setattr(fused, "_COMPILED", None)  # the next test compiles afresh


def test_compile_is_refused_for_models_it_does_not_apply_to(tmp_path):
    from ponder.lm.registry import load_lm
    from ponder.train.policy import open_policy

    with pytest.raises(InvalidInput, match="compile applies to ponder's own models"):
        load_lm("http://localhost:1/v1#m", compile=True)
    with pytest.raises(ConfigError, match="--compile applies to ponder's own models"):
        open_policy(f"hf:{tmp_path}", compile=True)
