import torch

from ponder.lm.model import ModelConfig, Transformer
from ponder.lm.reward import (
    RewardConfig,
    RewardModel,
    RewardScorer,
    encode_for_scoring,
    load_reward_model,
    save_reward_model,
    step_spans,
)
from ponder.lm.tokenizer import CharTokenizer

TINY = ModelConfig(vocab_size=CharTokenizer().vocab_size, n_layer=2, n_head=2, d_model=32,
                   d_ff=64, max_seq_len=256)


def test_step_spans_cover_thinking_lines_and_answer():
    c = "a=1\n\nb=2\n</think>\nAnswer: 2"
    spans = step_spans(c)
    assert [line for _, line in spans] == ["a=1", "b=2", "Answer: 2"]
    assert [c[i] for i, _ in spans] == ["\n", "\n", "2"]


def test_positions_point_at_step_ends_in_tokens():
    tok = CharTokenizer()
    prompt, comp = "Q\n<think>\n", "a=1\nb=2\n</think>\nAnswer: 2"
    ids, pos = encode_for_scoring(tok, prompt, comp, "prm")
    assert [tok.decode([ids[p]]) for p in pos] == ["\n", "\n", "2"]
    assert pos[-1] == len(ids) - 1
    ids_o, pos_o = encode_for_scoring(tok, prompt, comp, "orm")
    assert ids_o == ids and pos_o == [len(ids) - 1]


def test_zero_initialised_head_scores_one_half_and_round_trips(tmp_path):
    torch.manual_seed(0)
    rm = RewardModel.from_policy(Transformer(TINY), RewardConfig("prm"))
    tok = CharTokenizer()
    scorer = RewardScorer(rm, tok)
    [scores] = scorer.score_steps(["Q\n<think>\n"], ["a=1\nb=2\n</think>\nAnswer: 2"])
    assert len(scores) == 3 and all(abs(s - 0.5) < 1e-6 for s in scores)
    with torch.no_grad():
        rm.head.bias.fill_(0.3)
        rm.head.weight.normal_()
    save_reward_model(tmp_path / "rm", rm, tok)
    rm2, _ = load_reward_model(tmp_path / "rm")
    idx = torch.tensor([tok.encode("Q\n<think>\na=1\n", bos=True)])
    assert torch.allclose(rm(idx), rm2(idx), atol=1e-6)
    assert rm2.rcfg.kind == "prm"


def test_loading_a_policy_as_reward_model_is_a_clear_error(tmp_path):
    import pytest

    from ponder.errors import ModelError
    from ponder.lm.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "policy", Transformer(TINY), CharTokenizer())
    with pytest.raises(ModelError, match="not a reward model"):
        load_reward_model(tmp_path / "policy")


def test_reward_model_files_fail_cleanly(tmp_path, monkeypatch):
    import json

    import pytest

    import ponder.lm.checkpoint as checkpoint
    from ponder.errors import ModelError

    tok = CharTokenizer()
    rm = RewardModel.from_policy(Transformer(TINY), RewardConfig("orm"))
    path = save_reward_model(tmp_path / "rm", rm, tok, recipe={"v": 1})

    def broken_save_file(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "save_file", broken_save_file)
    with pytest.raises(OSError, match="disk full"):
        save_reward_model(path, rm, tok, recipe={"v": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rm"]  # no temporary left over
    monkeypatch.undo()
    assert json.loads((path / "recipe.json").read_text()) == {"v": 1}
    assert load_reward_model(path)[0].rcfg.kind == "orm"
    config = json.loads((path / "config.json").read_text())
    for broken, msg in [({**config, "ponder_reward": {"kind": "orm", "x": 1}}, "ponder_reward"),
                        ({**config, "ponder_reward": {"kind": "vrm"}}, "kind must be one of")]:
        (path / "config.json").write_text(json.dumps(broken))
        with pytest.raises(ModelError, match=msg):
            load_reward_model(path)
    (path / "config.json").write_text(json.dumps(config))
    (path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="cannot load the weights"):
        load_reward_model(path)


def test_positions_survive_special_tokens_inside_the_thinking():
    tok = CharTokenizer()
    comp = "a<think>=1\n<eos>b=2\n</think>\nAnswer: 2"  # a model may write stray specials
    ids, pos = encode_for_scoring(tok, "Q\n<think>\n", comp, "prm")
    assert all(p < len(ids) for p in pos)
    assert [tok.decode([ids[p]]) for p in pos] == ["\n", "\n", "2"]
    assert tok.token_ends("a</think>b") == [0, 8, 9]
