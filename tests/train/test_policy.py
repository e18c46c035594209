"""TrainablePolicy: the built-in model and transformers Llama / Qwen2 models (tiny, random,
built here) give the trainers the same things: ids with EOS on finished completions,
differentiable log-probs equal to the sampler's, decayed groups, frozen copies, saving."""

import functools

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from ponder.lm.base import Completion
from ponder.lm.model import ModelConfig, Transformer
from ponder.lm.tokenizer import CharTokenizer
from ponder.train.hf_policy import HFPolicy
from ponder.train.policy import NativePolicy, TrainablePolicy, open_policy
from ponder.train.rollout import sampled_logprobs

TOK = CharTokenizer()


def native(max_len: int = 32) -> NativePolicy:
    torch.manual_seed(0)
    return NativePolicy(Transformer(ModelConfig(vocab_size=TOK.vocab_size, n_layer=1,
                                                n_head=2, d_model=16, d_ff=32,
                                                max_seq_len=max_len)), TOK)


def hf_dir(root, arch: str):
    kw = dict(vocab_size=TOK.vocab_size, hidden_size=32, intermediate_size=64,
              num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
              max_position_embeddings=512, bos_token_id=TOK.bos_id, eos_token_id=TOK.eos_id,
              pad_token_id=TOK.pad_id)
    torch.manual_seed(0)
    model = (LlamaForCausalLM(LlamaConfig(**kw, head_dim=8)) if arch == "llama"
             else Qwen2ForCausalLM(Qwen2Config(**kw, tie_word_embeddings=False)))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    path = root / arch
    model.save_pretrained(path)
    TOK.save(path)
    return path


@pytest.fixture(scope="module")
def hf_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("policies")
    return {arch: hf_dir(root, arch) for arch in ("llama", "qwen2")}


def test_native_encode_adds_eos_only_to_finished_completions_and_fits_context():
    pol = native()
    b = pol.encode(["ab", "ab"], ["xy", "xy"], [True, False])
    assert b.prompts[0] == TOK.encode("ab", bos=True)
    assert b.completions == [TOK.encode("xy", eos=True), TOK.encode("xy")]
    short = native(max_len=5).encode(["ab"], ["xyz"], [True])
    assert len(short.prompts[0]) + len(short.completions[0]) == 5
    from ponder.errors import InvalidInput

    with pytest.raises(InvalidInput, match="more than the model's context of 5"):
        native(max_len=5).encode(["ab"], ["xyz"], [True], strict=True)  # fine-tuning


def test_native_logprobs_match_the_model_distribution_and_sampler():
    pol = native()
    b = pol.encode(["q", "qq"], ["ab", "a"], [True, False])
    lp, mask = pol.token_logprobs(b)
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    logits = pol.model(torch.tensor([b.prompts[0] + b.completions[0]]))[0]
    want = torch.log_softmax(logits[2], -1)[TOK.stoi["b"]].item()  # bos q a -> b
    assert lp[0, 1].item() == pytest.approx(want, abs=1e-5)
    lp.sum().backward()  # differentiable
    # the sampler's own log-probs are the same numbers, and are used when they align
    comps = [Completion("ab", 2, 3, token_logprobs=lp[0].tolist(), finish_reason="eos"),
             Completion("a", 3, 1, token_logprobs=[lp[1, 0].item()])]
    assert torch.allclose(sampled_logprobs(comps, b), lp.detach() * mask)
    comps[1].token_logprobs = None
    assert sampled_logprobs(comps, b) is None


def test_groups_decay_matrices_only():
    groups = native().parameter_groups(0.1)
    assert groups[0]["weight_decay"] == 0.1 and all(p.ndim >= 2 for p in groups[0]["params"])
    assert groups[1]["weight_decay"] == 0.0 and all(p.ndim < 2 for p in groups[1]["params"])
    assert groups[1]["params"]  # norm gains exist and are left undecayed


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_hf_logprobs_are_the_samplers_and_differentiable(hf_dirs, arch):
    pol = HFPolicy.load(hf_dirs[arch], device="cpu")
    assert isinstance(pol, TrainablePolicy)
    lm = pol.lm()
    prompts = [lm.format_prompt("Sum 3 4"), lm.format_prompt("x")]
    [[a], [b]] = lm.generate(prompts, n=1, max_tokens=6, temperature=1.0, seed=3)
    batch = pol.encode(prompts, [a.text, b.text], [a.finish_reason != "length",
                                                  b.finish_reason != "length"])
    for c, ids in zip((a, b), batch.completions, strict=True):
        if c.finish_reason != "length":
            assert ids[-1] == pol.eos_id  # the model is taught when to stop
    lp, mask = pol.token_logprobs(batch)
    assert mask.sum(1).tolist() == batch.lengths
    want = lm.logprobs(prompts, [a.text, b.text])  # teacher forcing without EOS
    for row, w in zip(lp.tolist(), want, strict=True):
        assert row[: len(w)] == pytest.approx(w, abs=1e-4)
    # the sampler's own per-token log-probs are the same numbers
    assert lp[0, : len(a.token_logprobs)].tolist() == pytest.approx(a.token_logprobs, abs=1e-4)
    lp.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in pol.module.parameters())


def test_hf_logprobs_run_the_output_layer_at_completion_tokens_only(hf_dirs):
    pol = HFPolicy.load(hf_dirs["llama"], device="cpu")
    widths = []
    forward = pol.model.forward

    @functools.wraps(forward)  # the same signature: logits_to_keep is seen
    def spy(*args, **kwargs):
        out = forward(*args, **kwargs)
        widths.append(out.logits.shape[1])
        return out

    pol.model.forward = spy
    batch = pol.encode(["a much longer prompt than the other", "ab"], ["cd", "efg"],
                       [True, False])
    lp, _ = pol.token_logprobs(batch)
    assert widths == [max(batch.lengths) + 1]  # not the prompt's columns
    full = pol.lm().logprobs(["a much longer prompt than the other", "ab"], ["cd", "efg"])
    assert lp[1, :3].tolist() == pytest.approx(full[1], abs=1e-4)


def test_hf_frozen_copy_save_and_reopen(hf_dirs, tmp_path):
    pol = HFPolicy.load(hf_dirs["llama"], device="cpu")
    ref = pol.copy(frozen=True)
    with torch.no_grad():
        next(pol.module.parameters()).add_(1.0)  # the copy does not move with it
    batch = pol.encode(["ab"], ["cd"], [True])
    assert not torch.allclose(pol.token_logprobs(batch)[0], ref.token_logprobs(batch)[0])
    assert not any(p.requires_grad for p in ref.module.parameters())
    out = pol.save(tmp_path / "saved", {"step": 3})
    again = pol.reopen(out)
    assert torch.allclose(again.token_logprobs(batch)[0], pol.token_logprobs(batch)[0],
                          atol=1e-5)
    assert (out / "recipe.json").exists() and not list(tmp_path.glob(".saved*"))


def test_hf_lora_trains_adapters_and_saves_merged_weights(hf_dirs, tmp_path):
    pytest.importorskip("peft")
    pol = HFPolicy.load(hf_dirs["qwen2"], lora=4, device="cpu")
    d = pol.describe()
    assert d["lora"] == 4 and 0 < d["trainable_params"] < d["params"] / 2
    trained = [p for g in pol.parameter_groups(0.0) for p in g["params"]]
    assert sum(p.numel() for p in trained) == d["trainable_params"]
    with torch.no_grad():  # move the adapters so that merging matters
        for name, p in pol.module.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    batch = pol.encode(["ab"], ["cd"], [False])
    out = pol.save(tmp_path / "lora")
    assert (out / "adapter" / "adapter_config.json").exists()
    merged = HFPolicy.load(out, device="cpu")  # a plain model: adapters merged in
    assert merged.lora == 0
    assert torch.allclose(merged.token_logprobs(batch)[0], pol.token_logprobs(batch)[0],
                          atol=1e-4)


def test_open_policy_reads_every_model_form(hf_dirs, tmp_path):
    from ponder.errors import ConfigError
    from ponder.lm.checkpoint import save_checkpoint

    pol, path = open_policy(f"hf:{hf_dirs['llama']}")
    assert isinstance(pol, HFPolicy) and path == str(hf_dirs["llama"])
    save_checkpoint(tmp_path / "run" / "checkpoint", native().model, TOK)
    pol, path = open_policy(str(tmp_path / "run"))  # a run directory holding one
    assert isinstance(pol, NativePolicy) and path.endswith("checkpoint")
    with pytest.raises(ConfigError, match="lora"):
        open_policy(str(tmp_path / "run"), lora=4)
