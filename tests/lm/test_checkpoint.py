import json

import pytest
import torch
from safetensors.torch import load_file, save_file

import ponder.files as files
import ponder.lm.checkpoint as checkpoint
from ponder.errors import ModelError
from ponder.lm.checkpoint import load_checkpoint, model_dir, save_checkpoint
from ponder.lm.model import ModelConfig, Transformer
from ponder.lm.tokenizer import CharTokenizer

TOK = CharTokenizer()


def tiny(seed: int) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(ModelConfig(vocab_size=TOK.vocab_size, n_layer=2, n_head=2,
                                   d_model=32, d_ff=48, max_seq_len=64)).eval()


@torch.no_grad()
def test_round_trip_gives_identical_logits(tmp_path):
    model = tiny(0)
    save_checkpoint(tmp_path / "ck", model, TOK, recipe={"steps": 3, "task": "toysum"})
    loaded, tok, recipe = load_checkpoint(tmp_path / "ck")
    ids = torch.randint(0, TOK.vocab_size, (2, 30))
    assert torch.equal(model(ids), loaded(ids))
    assert loaded.cfg == model.cfg
    assert loaded.lm_head.weight is loaded.model.embed_tokens.weight
    assert not loaded.training
    assert recipe == {"steps": 3, "task": "toysum"}
    assert tok.stoi == TOK.stoi
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert config["model_type"] == "llama" and config["ponder"]["d_model"] == 32


def test_model_dir_finds_a_runs_checkpoint_and_keeps_other_paths(tmp_path):
    save_checkpoint(tmp_path / "run" / "checkpoint", tiny(0), TOK)
    assert model_dir(tmp_path / "run") == tmp_path / "run" / "checkpoint"
    assert model_dir(tmp_path / "run" / "checkpoint") == tmp_path / "run" / "checkpoint"
    assert model_dir(str(tmp_path / "nothing")) == tmp_path / "nothing"  # left to the caller


def test_failed_save_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "ck"
    old = tiny(0)
    save_checkpoint(path, old, TOK, recipe={"version": 1})
    before = {f.name: f.read_bytes() for f in path.iterdir()}

    def broken_save_file(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "save_file", broken_save_file)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, tiny(1), TOK, recipe={"version": 2})
    assert {f.name: f.read_bytes() for f in path.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]  # no temporary left over
    _, _, recipe = load_checkpoint(path)
    assert recipe == {"version": 1}


def test_save_replaces_an_existing_checkpoint(tmp_path):
    path = tmp_path / "ck"
    save_checkpoint(path, tiny(0), TOK, recipe={"version": 1})
    new = tiny(1)
    save_checkpoint(path, new, TOK, recipe={"version": 2})
    loaded, _, recipe = load_checkpoint(path)
    assert recipe == {"version": 2}
    ids = torch.randint(0, TOK.vocab_size, (1, 10))
    with torch.no_grad():
        assert torch.equal(loaded(ids), new(ids))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def test_bad_directories_raise_model_error(tmp_path):
    with pytest.raises(ModelError, match="not a ponder checkpoint"):
        load_checkpoint(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="not a ponder checkpoint"):
        load_checkpoint(tmp_path / "empty")

    path = save_checkpoint(tmp_path / "ck", tiny(0), TOK)
    config = json.loads((path / "config.json").read_text())
    foreign = dict(config)
    del foreign["ponder"]
    (path / "config.json").write_text(json.dumps(foreign))
    with pytest.raises(ModelError, match="hf:"):
        load_checkpoint(path)

    (path / "config.json").write_text(json.dumps(config))
    state = load_file(str(path / "model.safetensors"))
    del state["model.norm.weight"]
    save_file(state, str(path / "model.safetensors"))
    with pytest.raises(ModelError, match="model.norm.weight"):
        load_checkpoint(path)


def test_corrupt_files_raise_model_error_not_a_traceback(tmp_path):
    path = save_checkpoint(tmp_path / "ck", tiny(0), TOK)
    weights = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(b"not safetensors at all")
    with pytest.raises(ModelError, match="cannot load the weights"):
        load_checkpoint(path)
    (path / "model.safetensors").write_bytes(weights)
    config = (path / "config.json").read_text()
    for text, msg in [("{truncated", "config.json cannot be read"),
                      ("[1, 2]", "no 'ponder' section")]:
        (path / "config.json").write_text(text)
        with pytest.raises(ModelError, match=msg):
            load_checkpoint(path)
    bad = json.loads(config)
    bad["ponder"]["d_model"] = 48  # shapes no longer match the stored weights
    (path / "config.json").write_text(json.dumps(bad))
    with pytest.raises(ModelError, match="cannot load the weights"):
        load_checkpoint(path)
    bad["ponder"]["colour"] = "blue"
    (path / "config.json").write_text(json.dumps(bad))
    with pytest.raises(ModelError, match="bad model config"):
        load_checkpoint(path)
    (path / "config.json").write_text(config)
    (path / "recipe.json").write_text("{")
    with pytest.raises(ModelError, match="recipe.json cannot be read"):
        load_checkpoint(path)


def test_saved_checkpoint_directory_follows_the_umask_not_private(tmp_path):
    import os
    old = os.umask(0o022)
    try:
        save_checkpoint(tmp_path / "ck", tiny(0), TOK)
    finally:
        os.umask(old)
    assert (tmp_path / "ck").stat().st_mode & 0o777 == 0o755
    assert files._umask() == old
