"""How a question becomes a prompt: the raw layout unless the model has its own."""

from ponder.lm.function import FunctionLM
from ponder.lm.template import (
    THINK_INSTRUCTION,
    chat_prompt_for,
    fold_system,
    format_prompt,
    join_messages,
    open_thinking,
    prompt_for,
    with_think_instruction,
)


def test_the_raw_layout_is_unchanged():
    assert format_prompt("Sum 3 4") == "Sum 3 4\n<think>\n"
    assert format_prompt("Sum 3 4", think=False) == "Sum 3 4\n<think>\n</think>\n"
    assert open_thinking(False) == open_thinking(True) + "</think>\n"


def test_models_without_their_own_layout_get_the_raw_one():
    lm = FunctionLM(lambda prompt, rng, temperature: "x")
    for think in (True, False):
        assert prompt_for(lm, "Sum 3 4", think) == format_prompt("Sum 3 4", think)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": ""},
                {"role": "user", "content": "Sum 3 4"}]
    assert chat_prompt_for(lm, messages) == format_prompt("Be brief.\nSum 3 4")


def test_a_model_with_its_own_layout_decides():
    class Own:
        def format_prompt(self, question, think=True):
            return f"[{question}|{think}]"

        def format_chat(self, messages, think=True):
            return "|".join(m["role"] for m in messages) + f"|{think}"

    assert prompt_for(Own(), "q", think=False) == "[q|False]"
    assert chat_prompt_for(Own(), [{"role": "user", "content": "q"}]) == "user|True"


def test_the_instruction_leads_one_system_message():
    messages = [{"role": "user", "content": "hi"}, {"role": "system", "content": "A"},
                {"role": "developer", "content": "B"}, {"role": "assistant", "content": "yo"}]
    got = with_think_instruction(messages)
    assert got == [{"role": "system", "content": f"{THINK_INSTRUCTION}\n\nA\n\nB"},
                   {"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    assert messages[0] == {"role": "user", "content": "hi"}  # the input is not changed
    assert join_messages(messages) == "hi\nA\nB\nyo"


def test_fold_system_moves_the_system_text_into_the_first_user_turn():
    assert fold_system([{"role": "system", "content": "S"}]) == [{"role": "user",
                                                                   "content": "S"}]
    got = fold_system([{"role": "system", "content": "S"}, {"role": "assistant", "content": "a"},
                       {"role": "user", "content": "u"}])
    assert got == [{"role": "assistant", "content": "a"}, {"role": "user", "content": "S\n\nu"}]
