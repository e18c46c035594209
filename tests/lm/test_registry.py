import json
import sys
import types
from pathlib import Path

import pytest
import torch

import ponder.lm.registry as registry
from ponder.errors import InvalidInput, ModelError, UnknownName
from ponder.lm.checkpoint import save_checkpoint
from ponder.lm.export import export_checkpoint
from ponder.lm.hf import HFLM
from ponder.lm.http import HTTPLM
from ponder.lm.model import ModelConfig, Transformer
from ponder.lm.registry import load_lm
from ponder.lm.tokenizer import CharTokenizer
from ponder.lm.vllm import NOT_INSTALLED

TOK = CharTokenizer()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=TOK.vocab_size, n_layer=1, n_head=2,
                                    d_model=16, d_ff=32, max_seq_len=32))
    return save_checkpoint(tmp_path_factory.mktemp("reg") / "ck", model, TOK)


class FakeNative:
    """Stands in for ponder.lm.native.NativeLM: records how it was built."""

    def __init__(self, path, kw):
        self.path, self.kw = path, kw

    @classmethod
    def from_checkpoint(cls, path, **kw):
        return cls(path, kw)


@pytest.fixture
def fake_native(monkeypatch):
    mod = types.ModuleType("ponder.lm.native")
    mod.NativeLM = FakeNative
    monkeypatch.setitem(sys.modules, "ponder.lm.native", mod)


def test_checkpoint_paths_load_natively(fake_native, checkpoint):
    lm = load_lm(str(checkpoint), device="cpu")
    assert isinstance(lm, FakeNative) and lm.path == checkpoint and lm.kw == {"device": "cpu"}
    assert load_lm(f"native:{checkpoint}").path == checkpoint


def test_a_training_run_directory_opens_its_checkpoint(fake_native, checkpoint, tmp_path):
    import shutil

    shutil.copytree(checkpoint, tmp_path / "run" / "checkpoint")
    assert load_lm(str(tmp_path / "run")).path == tmp_path / "run" / "checkpoint"


def test_real_native_backend_when_available(checkpoint):
    pytest.importorskip("ponder.lm.native")
    lm = load_lm(str(checkpoint))
    [[c]] = lm.generate(["Sum 1 2\n"], max_tokens=3, temperature=0)
    assert c.tokens <= 3


def test_kv_dtype_goes_to_ponder_models_and_is_refused_elsewhere(checkpoint, tmp_path):
    lm = load_lm(str(checkpoint), kv_dtype="bfloat16")
    [[c]] = lm.generate(["Sum 1 2\n"], max_tokens=3, temperature=0)
    assert lm.sampler.kv_dtype == torch.bfloat16 and c.tokens <= 3
    export_checkpoint(checkpoint, tmp_path / "hf")
    assert isinstance(load_lm(f"hf:{tmp_path / 'hf'}", kv_dtype="float32"), HFLM)
    for spec in (f"hf:{tmp_path / 'hf'}", "http://127.0.0.1:9/v1#m"):
        with pytest.raises(InvalidInput, match="applies to ponder's own models"):
            load_lm(spec, kv_dtype="bfloat16")
    with pytest.raises(InvalidInput, match="kv_dtype must be one of"):
        load_lm(str(checkpoint), kv_dtype="float16")


def test_missing_paths_name_the_path(fake_native, tmp_path):
    for spec in [str(tmp_path / "nope"), f"native:{tmp_path / 'nope'}",
                 f"hf:{tmp_path / 'nope'}", f"vllm:{tmp_path / 'nope'}"]:
        with pytest.raises(ModelError, match="does not exist") as e:
            load_lm(spec)
        assert str(tmp_path / "nope") in str(e.value)
    with pytest.raises(ModelError, match="empty path"):
        load_lm("hf:")


def test_hf_prefix_builds_hflm(checkpoint, tmp_path):
    export_checkpoint(checkpoint, tmp_path / "hf")
    lm = load_lm(f"hf:{tmp_path / 'hf'}", batch_size=8)
    assert isinstance(lm, HFLM) and lm.batch_size == 8
    assert lm.name == f"hf:{tmp_path / 'hf'}"


def test_vllm_prefix_without_vllm_installed(monkeypatch, checkpoint):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ModelError) as e:
        load_lm(f"vllm:{checkpoint}")
    assert str(e.value) == NOT_INSTALLED


def test_http_urls():
    lm = load_lm("http://127.0.0.1:9/v1#qwen-7b", api_key="k")
    assert isinstance(lm, HTTPLM)
    assert (lm.url, lm.model) == ("http://127.0.0.1:9/v1/completions", "qwen-7b")
    assert load_lm("https://example.invalid", model="m").model == "m"
    with pytest.raises(InvalidInput, match="#MODEL_NAME"):
        load_lm("http://127.0.0.1:9/v1")
    with pytest.raises(InvalidInput, match="named twice"):
        load_lm("http://127.0.0.1:9#a", model="b")


def test_unknown_prefix_and_paths_with_colons(fake_native, tmp_path, monkeypatch):
    with pytest.raises(UnknownName) as e:
        load_lm("hugginface:some/model")
    assert "hugginface" in str(e.value) and "hf" in str(e.value) and "vllm" in str(e.value)
    odd = tmp_path / "run:3"
    odd.mkdir()
    monkeypatch.chdir(tmp_path)
    assert load_lm("run:3").path == odd.relative_to(tmp_path)  # an existing path wins


def test_default_model(fake_native, tmp_path, monkeypatch, checkpoint):
    monkeypatch.setattr(registry, "default_model_path", lambda: tmp_path / "default")
    with pytest.raises(ModelError, match="ponder train") as e:
        load_lm(None)
    assert "--model" in str(e.value)
    monkeypatch.setattr(registry, "default_model_path", lambda: checkpoint)
    assert load_lm(None).path == checkpoint


def test_default_model_path_is_inside_the_package():
    import ponder

    path = registry.default_model_path()
    assert path.parts[-2:] == ("assets", "default")
    assert path.parent.parent.resolve() == Path(ponder.__file__).parent.resolve()


def test_weights_digest_names_the_exact_weights_a_report_used(checkpoint, tmp_path,
                                                              monkeypatch):
    import hashlib

    from ponder.eval.report import write_report

    want = hashlib.sha256((checkpoint / "model.safetensors").read_bytes()).hexdigest()[:16]
    assert registry.weights_digest(str(checkpoint)) == want
    assert registry.weights_digest(f"native:{checkpoint}") == want
    run = tmp_path / "run"
    (run / "checkpoint").mkdir(parents=True)
    (run / "checkpoint" / "model.safetensors").write_bytes(b"other weights")
    other = registry.weights_digest(str(run))
    assert other is not None and other != want
    assert registry.weights_digest(f"hf:{checkpoint}") is None
    assert registry.weights_digest("http://localhost:1/v1#m") is None
    assert registry.weights_digest(str(tmp_path / "missing")) is None
    monkeypatch.setattr(registry, "default_model_path", lambda: checkpoint)
    assert registry.weights_digest("default") == registry.weights_digest(None) == want
    report = write_report("r", {}, model=str(run), directory=tmp_path)
    assert json.loads(report.read_text())["model_sha256"] == other
    # a report that names no model claims no weights
    report = write_report("r", {}, directory=tmp_path)
    assert json.loads(report.read_text())["model_sha256"] is None
