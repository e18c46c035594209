import pytest
import torch
from transformers import AutoModelForCausalLM
from typer.testing import CliRunner

from ponder.errors import InvalidInput, ModelError
from ponder.lm.checkpoint import save_checkpoint
from ponder.lm.export import max_logit_difference
from ponder.lm.gguf_export import SPACE, export_gguf, gguf_tokens, rotate_pairs
from ponder.lm.model import ModelConfig, rope_tables
from ponder.lm.template import THINK_CLOSE, THINK_OPEN
from tests.lm.test_export import TOK, random_model

gguf = pytest.importorskip("gguf")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("gguf")
    model = random_model()
    save_checkpoint(d / "ck", model, TOK)
    return model, d / "ck", export_gguf(d / "ck", d / "model.gguf")


def test_rotate_pairs_turns_rotate_half_into_adjacent_pairs():
    # one head of size 4: rotate-half pairs (0,2) and (1,3) become (0,1) and (2,3)
    w = torch.arange(8.0).view(4, 2)
    assert rotate_pairs(w, 1)[:, 0].tolist() == [0.0, 4.0, 2.0, 6.0]
    # and the rotation itself agrees: rotating adjacent pairs of the reordered
    # projection gives the reordered rotate-half result, at every position
    torch.manual_seed(0)
    n_head, hs, d = 2, 8, 16
    cfg = ModelConfig(vocab_size=8, n_layer=1, n_head=n_head, d_model=n_head * hs, d_ff=8,
                      max_seq_len=32)
    x, wq = torch.randn(5, d), torch.randn(n_head * hs, d)
    pos = torch.arange(5)[None]
    cos, sin = rope_tables(cfg, pos)
    q_half = (x @ wq.T).view(1, 5, n_head, hs).transpose(1, 2)  # (1, nh, 5, hs)
    lo, hi = q_half.chunk(2, dim=-1)
    ours = q_half * cos + torch.cat([-hi, lo], dim=-1) * sin  # rotate-half (HF Llama)
    q = (x @ rotate_pairs(wq, n_head).T).view(5, n_head, hs // 2, 2)
    angle = pos[0, :, None] / cfg.rope_theta ** (torch.arange(0, hs, 2) / hs)  # (5, hs/2)
    c, s = angle.cos()[:, None], angle.sin()[:, None]
    adjacent = torch.stack([q[..., 0] * c - q[..., 1] * s, q[..., 0] * s + q[..., 1] * c], -1)
    reordered = rotate_pairs(ours[0].transpose(0, 1).reshape(5, n_head * hs).T, n_head).T
    assert torch.allclose(adjacent.reshape(5, n_head * hs), reordered, atol=1e-5)


def test_transformers_reads_the_gguf_with_the_same_logits(exported):
    model, ck, path = exported
    hf = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                              dtype=torch.float32).eval()
    ids = torch.randint(0, TOK.vocab_size, (2, model.cfg.max_seq_len),
                        generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ours = model(ids)
        assert ours.abs().max() > 1.0
        assert (ours - hf(input_ids=ids).logits).abs().max() < 1e-4
    assert max_logit_difference(ck, path, n_sequences=2, seq_len=32) < 1e-4


def test_metadata_and_vocabulary(exported):
    model, _, path = exported
    r = gguf.GGUFReader(path)

    def field(key):
        f = r.fields[key]
        return f.contents()

    cfg = model.cfg
    assert field("general.architecture") == "llama"
    assert (field("llama.block_count"), field("llama.embedding_length"),
            field("llama.feed_forward_length"), field("llama.attention.head_count"),
            field("llama.context_length")) == (cfg.n_layer, cfg.d_model, cfg.d_ff,
                                               cfg.n_head, cfg.max_seq_len)
    assert field("llama.rope.freq_base") == pytest.approx(cfg.rope_theta)
    assert field("llama.attention.layer_norm_rms_epsilon") == pytest.approx(cfg.norm_eps)
    tokens = field("tokenizer.ggml.tokens")
    assert len(tokens) == TOK.vocab_size == len(set(tokens))
    assert tokens[TOK.stoi[" "]] == SPACE and tokens[TOK.stoi["7"]] == "7"
    assert field("tokenizer.ggml.add_space_prefix") is False
    types = dict(zip(tokens, field("tokenizer.ggml.token_type"), strict=True))
    assert types["<bos>"] == types["<eos>"] == int(gguf.TokenType.CONTROL)
    assert types[THINK_OPEN] == types[THINK_CLOSE] == int(gguf.TokenType.USER_DEFINED)
    assert (field("tokenizer.ggml.bos_token_id"), field("tokenizer.ggml.eos_token_id")) == (
        TOK.bos_id, TOK.eos_id)
    names = {t.name for t in r.tensors}
    assert {"token_embd.weight", "output.weight", "output_norm.weight",
            f"blk.{cfg.n_layer - 1}.ffn_down.weight"} <= names
    assert len(names) == 3 + 9 * cfg.n_layer
    assert gguf_tokens(TOK)[0] == tokens


def test_a_position_scale_is_written_as_linear_rope_scaling(tmp_path):
    save_checkpoint(tmp_path / "ck", random_model(position_scale=1.25), TOK)
    r = gguf.GGUFReader(export_gguf(tmp_path / "ck", tmp_path / "m.gguf"))
    assert r.fields["llama.rope.scaling.type"].contents() == "linear"
    assert r.fields["llama.rope.scaling.factor"].contents() == pytest.approx(0.8)
    save_checkpoint(tmp_path / "nope", random_model(position_scale=0.0), TOK)
    r = gguf.GGUFReader(export_gguf(tmp_path / "nope", tmp_path / "n.gguf"))
    assert r.fields["llama.rope.scaling.factor"].contents() == pytest.approx(1e30)
    assert "llama.rope.scaling.type" not in gguf.GGUFReader(
        export_gguf(tmp_path / "ck0", tmp_path / "p.gguf")
        if save_checkpoint(tmp_path / "ck0", random_model(), TOK) else None).fields


def test_grouped_query_attention_is_written_with_its_key_value_heads(tmp_path):
    model = random_model(n_kv_head=1)
    save_checkpoint(tmp_path / "ck", model, TOK)
    path = export_gguf(tmp_path / "ck", tmp_path / "m.gguf")
    r = gguf.GGUFReader(path)
    assert r.fields["llama.attention.head_count"].contents() == 4
    assert r.fields["llama.attention.head_count_kv"].contents() == 1
    hf = AutoModelForCausalLM.from_pretrained(str(tmp_path), gguf_file=path.name,
                                              dtype=torch.float32).eval()
    ids = torch.randint(0, TOK.vocab_size, (2, 48), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():  # the keys' pair order follows their own head count
        assert (model(ids) - hf(input_ids=ids).logits).abs().max() < 1e-4


def test_errors_and_atomic_replacement(exported, tmp_path, monkeypatch):
    _, ck, _ = exported
    with pytest.raises(InvalidInput, match="should end in .gguf"):
        export_gguf(ck, tmp_path / "model.bin")
    with pytest.raises(InvalidInput, match="does not exist"):
        export_gguf(ck, tmp_path / "missing" / "model.gguf")
    with pytest.raises(ModelError, match="does not exist"):
        export_gguf(tmp_path / "nope", tmp_path / "model.gguf")
    out = export_gguf(ck, tmp_path / "model.gguf")
    before = out.read_bytes()

    def broken(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(gguf.GGUFWriter, "write_tensors_to_file", broken)
    with pytest.raises(OSError, match="disk full"):
        export_gguf(ck, out)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.gguf"]  # no temporary left


def test_cli_export_gguf(exported, tmp_path):
    from ponder.cli import app

    _, ck, _ = exported
    res = CliRunner().invoke(app, ["export", str(ck), str(tmp_path / "m.gguf")])
    assert res.exit_code == 0, res.output
    assert "(gguf)" in res.output and "max |logit difference|" in res.output
    assert (tmp_path / "m.gguf").read_bytes()[:4] == b"GGUF"
    bad = CliRunner().invoke(app, ["export", str(ck), str(tmp_path / "x"), "--format", "onnx"])
    assert bad.exit_code != 0 and "unknown format 'onnx'" in bad.output


@pytest.mark.parametrize("text", ["Sum 3 4\n", "a = 12 * 7\n<think>\nb"])
def test_llama_cpp_tokenises_and_decodes_greedily_like_ponder(exported, text):
    llama_cpp = pytest.importorskip("llama_cpp")
    from ponder.lm.sampler import Sampler

    model, _, path = exported
    llm = llama_cpp.Llama(str(path), n_ctx=model.cfg.max_seq_len, n_threads=1, verbose=False)
    ids = llm.tokenize(text.encode(), add_bos=True, special=True)
    assert ids == TOK.encode(text, bos=True)
    (want,), = Sampler(model, TOK).generate([ids], max_tokens=40, temperature=0.0)
    got = []
    for t in llm.generate(ids, temp=0.0, top_k=1):
        if t == TOK.eos_id or len(got) == 40:
            break
        got.append(t)
    assert TOK.decode(got) == want.text
    assert llm.detokenize(got, special=True).decode() == want.text


def test_a_missing_gguf_package_is_a_clear_error(exported, tmp_path, monkeypatch):
    import sys

    _, ck, _ = exported
    monkeypatch.setitem(sys.modules, "gguf", None)
    with pytest.raises(ModelError, match=r"pip install 'ponder\[gguf\]'"):
        export_gguf(ck, tmp_path / "m.gguf")
    assert not list(tmp_path.iterdir())
