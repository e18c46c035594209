"""Prompts of HF models: the tokenizer's chat template with the think/answer instruction
when it has one, ponder's raw layout otherwise. The models are tiny random Llamas built
here with ponder's character tokenizer, given small Jinja chat templates."""

import pytest
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from ponder.lm.checkpoint import save_checkpoint
from ponder.lm.export import export_checkpoint
from ponder.lm.hf import HFLM
from ponder.lm.model import ModelConfig, Transformer
from ponder.lm.registry import load_lm
from ponder.lm.template import (
    THINK_INSTRUCTION,
    chat_prompt_for,
    format_prompt,
    prompt_for,
)
from ponder.lm.tokenizer import CharTokenizer

TOK = CharTokenizer()
#: role headers in the style of Zephyr/Llama-3 templates; BOS written by the template
TEMPLATE = ("{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n"
            "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
#: a template that refuses a system message, as Mistral's does
NO_SYSTEM = ("{% for m in messages %}{% if m['role'] == 'system' %}"
             "{{ raise_exception('System role not supported') }}{% endif %}"
             "[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
             "{% if add_generation_prompt %}[assistant] {% endif %}")
#: a reasoning model's template that opens the thinking itself (DeepSeek-R1 style)
OPENS_THINKING = TEMPLATE.replace("<|assistant|>\n{% endif %}", "<|assistant|>\n<think>\n"
                                  "{% endif %}")


def save_llama(root, template: str | None):
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=TOK.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=512,
        bos_token_id=TOK.bos_id, eos_token_id=TOK.eos_id, pad_token_id=TOK.pad_id))
    model.save_pretrained(root)
    TOK.save(root)
    if template is not None:
        tok = AutoTokenizer.from_pretrained(root)
        tok.chat_template = template
        tok.save_pretrained(root)
    return root


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("chat")
    out = {name: save_llama(root / name, t) for name, t in
           [("chat", TEMPLATE), ("plain", None), ("no_system", NO_SYSTEM),
            ("opens", OPENS_THINKING)]}
    ponder = Transformer(ModelConfig(vocab_size=TOK.vocab_size, n_layer=1, n_head=2,
                                     d_model=16, d_ff=32, max_seq_len=64))
    save_checkpoint(root / "ck", ponder, TOK)
    out["exported"] = export_checkpoint(root / "ck", root / "exported")
    return out


@pytest.fixture(scope="module")
def chat_lm(dirs):
    return load_lm(f"hf:{dirs['chat']}")


def test_an_instruct_model_gets_its_chat_template_with_the_think_instruction(chat_lm):
    assert chat_lm.chat
    prompt = prompt_for(chat_lm, "What is 2 + 3?")
    assert prompt == (f"<bos><|system|>\n{THINK_INSTRUCTION}\n<|user|>\nWhat is 2 + 3?\n"
                      "<|assistant|>\n<think>\n")
    assert "Answer:" in THINK_INSTRUCTION and "</think>" in THINK_INSTRUCTION
    # direct: the thinking is closed at once, as in the raw layout
    assert prompt_for(chat_lm, "What is 2 + 3?", think=False) == prompt + "</think>\n"


def test_the_template_writes_the_bos_token_so_the_tokenizer_adds_none(chat_lm):
    ids = chat_lm.prompt_ids(prompt_for(chat_lm, "2+3?"))
    assert ids[0] == TOK.bos_id and ids[1] != TOK.bos_id
    assert ids.count(TOK.bos_id) == 1
    # the raw layout still gets its BOS from the tokenizer
    assert chat_lm.prompt_ids("2+3?")[:2] == [TOK.bos_id, TOK.stoi["2"]]


def test_chat_prompts_generate_and_score(chat_lm):
    prompt = prompt_for(chat_lm, "What is 2 + 3?")
    [[c]] = chat_lm.generate([prompt], max_tokens=5, temperature=0.0)
    assert c.prompt_tokens == len(chat_lm.prompt_ids(prompt)) and c.tokens >= 1
    assert c.text and c.token_logprobs is not None
    [lp] = chat_lm.logprobs([prompt], [c.text])
    assert lp == pytest.approx(c.token_logprobs[:len(lp)], abs=1e-4)


def test_a_conversation_keeps_its_roles_and_system_messages_follow_the_instruction(chat_lm):
    messages = [{"role": "developer", "content": "Be brief."},
                {"role": "user", "content": "What is 2 + 3?"},
                {"role": "assistant", "content": "Answer: 5"},
                {"role": "user", "content": "And 2 + 4?"}]
    assert chat_prompt_for(chat_lm, messages) == (
        f"<bos><|system|>\n{THINK_INSTRUCTION}\n\nBe brief.\n<|user|>\nWhat is 2 + 3?\n"
        "<|assistant|>\nAnswer: 5\n<|user|>\nAnd 2 + 4?\n<|assistant|>\n<think>\n")


def test_models_without_a_template_keep_the_raw_layout_byte_for_byte(dirs):
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is 2 + 3?"}]
    for lm in (load_lm(f"hf:{dirs['plain']}"), load_lm(f"hf:{dirs['exported']}"),
               HFLM(dirs["chat"], chat_template=False)):
        assert not lm.chat
        for think in (True, False):
            assert prompt_for(lm, "Sum 3 4", think) == format_prompt("Sum 3 4", think)
            assert chat_prompt_for(lm, messages, think) == \
                format_prompt("Be brief.\nWhat is 2 + 3?", think)


def test_a_template_without_a_system_role_gets_the_instruction_in_the_user_turn(dirs):
    lm = load_lm(f"hf:{dirs['no_system']}")
    assert prompt_for(lm, "2+3?") == f"[user] {THINK_INSTRUCTION}\n\n2+3?\n[assistant] <think>\n"


def test_a_template_that_opens_the_thinking_is_not_opened_twice(dirs, chat_lm):
    lm = load_lm(f"hf:{dirs['opens']}")
    for think in (True, False):  # the same prompts as a template that leaves it to us
        assert prompt_for(lm, "2+3?", think) == prompt_for(chat_lm, "2+3?", think)
