import json

import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)
from typer.testing import CliRunner

from ponder.errors import InvalidInput, ModelError
from ponder.lm.checkpoint import load_checkpoint, save_checkpoint
from ponder.lm.export import export_checkpoint, max_logit_difference
from ponder.lm.model import ModelConfig, Transformer
from ponder.lm.template import THINK_OPEN
from ponder.lm.tokenizer import CharTokenizer

TOK = CharTokenizer()


def random_model(seed: int = 0, position_scale: float = 1.0, n_kv_head: int = 0
                 ) -> Transformer:
    """A small model with weights far from the init scale (and non-unit norms), so the
    logits spread over several units and any mismatch in the export would show."""
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=TOK.vocab_size, n_layer=3, n_head=4, d_model=64, d_ff=160,
                      max_seq_len=128, rope_theta=500.0, norm_eps=1e-6,
                      position_scale=position_scale, n_kv_head=n_kv_head)
    model = Transformer(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.uniform_(0.5, 1.5)
            else:
                p.normal_(0, 0.15)
    return model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("export")
    model = random_model()
    save_checkpoint(d / "ck", model, TOK, recipe={"made_by": "test"})
    export_checkpoint(d / "ck", d / "hf")
    return model, d / "ck", d / "hf"


@torch.no_grad()
def test_transformers_loads_llama_with_the_same_logits(exported):
    model, _, hf_dir = exported
    hf = AutoModelForCausalLM.from_pretrained(str(hf_dir)).eval()
    assert isinstance(hf, LlamaForCausalLM)
    assert hf.lm_head.weight.data_ptr() == hf.model.embed_tokens.weight.data_ptr()  # tied
    g = torch.Generator().manual_seed(1)
    worst = 0.0
    for length in (1, 17, 64, 128):  # up to the full context: every rotary position
        ids = torch.randint(0, TOK.vocab_size, (3, length), generator=g)
        ours, theirs = model(ids), hf(input_ids=ids).logits
        assert ours.abs().max() > 1.0  # logits far from zero, so the comparison means much
        worst = max(worst, (ours - theirs).abs().max().item())
    assert worst < 1e-4, worst


@pytest.mark.parametrize("scale", [1.25, 0.0])  # 0: no positions, angles all 0
def test_a_position_scale_exports_as_linear_rope_scaling(tmp_path, scale):
    model = random_model(position_scale=scale)
    save_checkpoint(tmp_path / "ck", model, TOK)
    export_checkpoint(tmp_path / "ck", tmp_path / "hf")
    assert load_checkpoint(tmp_path / "hf")[0].cfg.position_scale == scale
    assert max_logit_difference(tmp_path / "ck", tmp_path / "hf", n_sequences=2,
                                seq_len=128) < 1e-4
    plain = random_model()
    save_checkpoint(tmp_path / "plain", plain, TOK)
    assert max_logit_difference(tmp_path / "plain", tmp_path / "hf", n_sequences=2,
                                seq_len=128) > 1e-2  # the scale is what made them agree


def test_grouped_query_attention_exports_as_llama_key_value_heads(tmp_path):
    model = random_model(n_kv_head=2)
    save_checkpoint(tmp_path / "ck", model, TOK)
    export_checkpoint(tmp_path / "ck", tmp_path / "hf")
    hf = AutoModelForCausalLM.from_pretrained(str(tmp_path / "hf")).eval()
    assert hf.config.num_key_value_heads == 2 and hf.config.num_attention_heads == 4
    assert load_checkpoint(tmp_path / "hf")[0].cfg.kv_heads == 2
    ids = torch.randint(0, TOK.vocab_size, (2, 64), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours = model(ids)
        assert ours.abs().max() > 1.0
        assert (ours - hf(input_ids=ids).logits).abs().max() < 1e-4


def test_max_logit_difference_helper(exported):
    _, ck, hf_dir = exported
    assert max_logit_difference(ck, hf_dir, n_sequences=2, seq_len=32) < 1e-4


def test_tokenizer_and_generation_config(exported):
    _, _, hf_dir = exported
    text = f"Sum 3 4\n{THINK_OPEN}\ns=7\n"
    for tok in (AutoTokenizer.from_pretrained(str(hf_dir)),
                PreTrainedTokenizerFast.from_pretrained(str(hf_dir))):
        assert tok(text)["input_ids"] == TOK.encode(text, bos=True)
        assert tok.decode(TOK.encode(text)) == text
    gen = GenerationConfig.from_pretrained(str(hf_dir))
    assert (gen.bos_token_id, gen.eos_token_id, gen.pad_token_id) == (TOK.bos_id, TOK.eos_id,
                                                                      TOK.pad_id)


def test_export_is_still_a_ponder_checkpoint(exported):
    model, ck, hf_dir = exported
    loaded, _, recipe = load_checkpoint(hf_dir)
    assert loaded.cfg == model.cfg and recipe == {"made_by": "test"}
    config = json.loads((hf_dir / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["tie_word_embeddings"] is True


def test_export_replaces_atomically_and_cleans_up_on_failure(exported, tmp_path, monkeypatch):
    _, ck, _ = exported
    out = tmp_path / "out"
    export_checkpoint(ck, out)
    export_checkpoint(ck, out)  # replacing an earlier export works
    before = {f.name: f.read_bytes() for f in out.iterdir()}

    import ponder.lm.checkpoint as checkpoint_mod  # export writes weights through it

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_mod, "save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        export_checkpoint(ck, out)
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_export_errors(exported, tmp_path):
    _, ck, _ = exported
    with pytest.raises(ModelError, match="does not exist"):
        export_checkpoint(tmp_path / "nope", tmp_path / "out")
    (tmp_path / "hf_only").mkdir()
    config = json.loads((ck / "config.json").read_text())
    del config["ponder"]
    (tmp_path / "hf_only" / "config.json").write_text(json.dumps(config))
    (tmp_path / "hf_only" / "model.safetensors").write_bytes((ck / "model.safetensors")
                                                             .read_bytes())
    with pytest.raises(ModelError, match="no 'ponder' section"):
        export_checkpoint(tmp_path / "hf_only", tmp_path / "out")
    with pytest.raises(InvalidInput, match="checkpoint itself"):
        export_checkpoint(ck, ck)
    assert not (tmp_path / "out").exists()


def test_cli_export(exported, tmp_path):
    from ponder.cli import app

    _, ck, _ = exported
    result = CliRunner().invoke(app, ["export", str(ck), str(tmp_path / "cli_out")])
    assert result.exit_code == 0, result.output
    assert "max |logit difference|" in result.output
    assert isinstance(AutoModelForCausalLM.from_pretrained(str(tmp_path / "cli_out")),
                      LlamaForCausalLM)
    bad = CliRunner().invoke(app, ["export", str(tmp_path / "nope"), str(tmp_path / "x")])
    assert bad.exit_code != 0 and isinstance(bad.exception, ModelError)
