"""The server passes a conversation's roles to an instruct model's chat template (a tiny
random Llama with a Jinja template, built here), and keeps joining the texts into one
question for ponder's own reasoners."""

import threading

import pytest

from ponder.lm.batching import Batcher
from ponder.lm.function import FunctionLM
from ponder.lm.hf import HFLM
from ponder.lm.template import format_prompt
from ponder.serve.engine import Job, Query, RequestLM
from ponder.serve.errors import BadRequest
from tests.lm.test_hf_chat import TEMPLATE, save_llama
from tests.serve.fakes import FakeReasoner

CONVERSATION = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is 2 + 3?"},
                {"role": "assistant", "content": "Answer: 5"},
                {"role": "user", "content": "And 2 + 4?"}]


class RecordingHFLM(HFLM):
    """An HFLM that keeps every prompt it is asked to continue."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.prompts: list[str] = []
        self._lock = threading.Lock()

    def generate(self, prompts, *args, **kw):
        with self._lock:
            self.prompts += prompts
        return super().generate(prompts, *args, **kw)


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    return save_llama(tmp_path_factory.mktemp("serve_chat") / "llama", TEMPLATE)


@pytest.fixture
def lm(llama_dir):
    return RecordingHFLM(llama_dir, name="tiny-chat")


def test_chat_completions_send_the_roles_through_the_template(lm, make_engine, live, http):
    url = live(make_engine(lm))
    body = {"model": "tiny-chat", "messages": CONVERSATION, "reasoning_effort": "low",
            "max_completion_tokens": 4}
    r = http.post(url + "/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    want = lm.format_chat(CONVERSATION)
    assert "<|assistant|>\nAnswer: 5\n<|user|>\nAnd 2 + 4?\n<|assistant|>\n<think>\n" in want
    assert "Be brief." in want.split("<|user|>")[0]  # the system message stays a system one
    assert lm.prompts == [want]
    assert r.json()["usage"]["prompt_tokens"] == lm.count_tokens(want)


def test_responses_send_instructions_as_the_system_message(lm, make_engine, live, http):
    url = live(make_engine(lm))
    body = {"model": "tiny-chat", "instructions": "Be brief.", "input": "What is 2 + 3?",
            "reasoning": {"effort": "low"}, "max_output_tokens": 4}
    r = http.post(url + "/v1/responses", json=body)
    assert r.status_code == 200, r.text
    assert lm.prompts == [lm.format_chat([{"role": "system", "content": "Be brief."},
                                          {"role": "user", "content": "What is 2 + 3?"}])]


def test_a_conversation_the_template_refuses_is_a_bad_request(lm, make_engine):
    lm.tokenizer.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'assistant' %}"
        "{{ raise_exception('Conversation roles must alternate') }}{% endif %}"
        "{{ m['content'] }}{% endfor %}")
    engine = make_engine(lm)
    with pytest.raises(BadRequest, match="roles must alternate") as e:
        engine.prepare("x", messages=CONVERSATION)
    assert e.value.param == "messages"


def test_strategies_prompts_are_put_in_the_models_layout():
    seen: list[str] = []
    fn = FunctionLM(lambda prompt, rng, temperature: seen.append(prompt) or "</think>\nAnswer: 1")
    raw = format_prompt("2+3?")
    query = Query("2+3?", 1, "low", 8, prompt="<chat>2+3?<ai><think>\n")
    batcher = Batcher(fn)
    try:
        view = RequestLM(fn, batcher, Job(query), samples_per_call=4)
        view.generate([raw, raw + "5\n", format_prompt("2+3?", think=False), "summarize"])
    finally:
        batcher.close()
    assert seen == ["<chat>2+3?<ai><think>\n", "<chat>2+3?<ai><think>\n5\n",
                    "<chat>2+3?<ai><think>\n</think>\n", "summarize"]


def test_ponders_own_reasoners_still_get_the_joined_question(make_engine):
    engine = make_engine(FakeReasoner())
    q = engine.prepare("Be brief.\nWhat is 2 + 3?", messages=CONVERSATION[:2])
    assert q.prompt == format_prompt("Be brief.\nWhat is 2 + 3?")
    assert q.prompt_tokens == FakeReasoner().count_tokens(q.prompt)
