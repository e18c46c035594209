"""Quiet-STaR on tiny random Llama / Qwen2 models (transformers, 4D masks; no hub)."""

from __future__ import annotations

import pytest
import torch

from ponder.quietstar.hf import HFBackbone
from ponder.quietstar.model import QuietStar, ThoughtConfig
from ponder.quietstar.objective import LossConfig, quiet_star_loss
from ponder.quietstar.thoughts import rollout
from ponder.quietstar.tokens import ThoughtCharTokenizer
from tests.quietstar.reference import hf_hidden, logsoftmax_close, thoughts_alone

transformers = pytest.importorskip("transformers")


def tiny_hf(arch: str, attn: str = "sdpa") -> QuietStar:
    torch.manual_seed(0)
    kw = dict(vocab_size=101, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
              attn_implementation=attn)
    cfg = (transformers.LlamaConfig(**kw) if arch == "llama"
           else transformers.Qwen2Config(**kw, use_sliding_window=False))
    model = transformers.AutoModelForCausalLM.from_config(cfg).eval()
    return QuietStar(HFBackbone(model), ThoughtCharTokenizer()).eval()


@pytest.mark.parametrize("arch,attn", [("llama", "sdpa"), ("qwen2", "eager")])
def test_parallel_thoughts_equal_thoughts_made_alone(arch, attn, text_ids):
    qs = tiny_hf(arch, attn)
    t, N, K = 2, 2, 2
    with torch.no_grad():
        ro = rollout(qs, text_ids, thought_tokens=t, n_thoughts=N, n_true=K, temperature=1.0,
                     generator=torch.Generator().manual_seed(3))
        tokens, logits, talk = thoughts_alone(qs, text_ids, hf_hidden(qs), thought_tokens=t,
                                              n_thoughts=N, n_true=K, temperature=1.0, seed=3)
        plain = qs.backbone.module(text_ids).logits
    assert torch.allclose(ro.base_logits, plain, atol=1e-4)  # text pass = the model's own
    assert torch.equal(ro.tokens, tokens)
    assert logsoftmax_close(ro.logits, logits)
    assert torch.allclose(ro.talk_hidden, talk, atol=1e-4)


def test_hf_loss_backpropagates(text_ids):
    qs = tiny_hf("llama").train()
    out = quiet_star_loss(qs, text_ids, text_ids != 0, ThoughtConfig(thought_tokens=2, n_true=2),
                          LossConfig(), torch.Generator().manual_seed(0))
    out.loss.backward()
    assert qs.meta.weight.grad is not None and qs.meta.weight.grad.abs().sum() > 0
    assert qs.backbone.head.weight.grad is not None


def test_sliding_window_models_are_refused():
    from ponder.errors import ModelError

    cfg = transformers.Qwen2Config(vocab_size=101, hidden_size=32, intermediate_size=64,
                                   num_hidden_layers=1, num_attention_heads=4,
                                   num_key_value_heads=2, use_sliding_window=True,
                                   sliding_window=16)
    with pytest.raises(ModelError, match="sliding window"):
        HFBackbone(transformers.AutoModelForCausalLM.from_config(cfg))


def test_hf_directory_train_save_load_generate(tmp_path):
    from ponder.lm.tokenizer import CharTokenizer
    from ponder.quietstar.generate import QuietStarLM
    from ponder.quietstar.model import load_quietstar, save_quietstar

    qs = tiny_hf("llama")
    qs.backbone.module.save_pretrained(str(tmp_path / "base"))
    CharTokenizer().save(tmp_path / "base")
    loaded, _ = load_quietstar(f"hf:{tmp_path / 'base'}", cfg=ThoughtConfig(thought_tokens=2))
    assert loaded.codec.meta_base == 101  # after the model's embedding rows
    # meta tokens start as the embedding of the first token of "---"
    dash = loaded.backbone.embed(torch.tensor([loaded.codec.encode("-")[0]]))[0]
    assert torch.allclose(loaded.meta.weight[0], dash)
    with torch.no_grad():
        loaded.mixer.mlp[-1].bias.fill_(1.0)
    from ponder.quietstar.train import TrainConfig, train
    from ponder.tasks import get_task

    summary = train(loaded, [get_task("arith")], TrainConfig(steps=1, batch_size=2),
                    tmp_path / "run", log=lambda _: None)  # HF codec, text batches, loss
    assert summary["steps"] == 1 and (tmp_path / "run" / "checkpoint" / "config.json").exists()
    save_quietstar(loaded, tmp_path / "qs")
    back, _ = load_quietstar(f"hf:{tmp_path / 'qs'}")
    assert back.cfg.thought_tokens == 2
    assert torch.equal(back.mixer.mlp[-1].bias, loaded.mixer.mlp[-1].bias)
    lm = QuietStarLM(back)
    [[a]] = lm.generate_decoded(["What is 2 + 2?\n"], max_tokens=3, temperature=0.0, seed=0)
    [[b]] = QuietStarLM(loaded).generate_decoded(["What is 2 + 2?\n"], max_tokens=3,
                                                 temperature=0.0, seed=0)
    assert a.tokens == b.tokens and len(a.thoughts) == len(a.tokens) + (a.reason == "eos")
    assert "<|startofthought|>" in back.codec.decode([101])
