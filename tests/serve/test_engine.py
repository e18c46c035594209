"""The engine without HTTP: effort levels, token accounting, batching, queue, cancel."""

import threading
import time

import pytest

from ponder.lm.base import Cancelled
from ponder.lm.batching import Batcher, Call, Direct
from ponder.lm.template import format_prompt
from ponder.serve.effort import EffortPolicy
from ponder.serve.errors import BadRequest, Overloaded
from ponder.think import STRATEGIES, Scorers
from ponder.think.optimal import Choice, Policy
from tests.serve.fakes import FakeReasoner, think


def run(engine, question, **kw):
    return engine.submit(engine.prepare(question, **kw)).future.result(timeout=30)


def test_plans_map_effort_levels_onto_strategies(monkeypatch):
    p = EffortPolicy(medium_n=5, high_n=16)
    assert (p.plan("low").strategy, p.plan("low").n, p.plan("low").temperature) == \
        ("greedy", 1, 0.0)
    assert (p.plan("low", temperature=0.7).strategy, p.plan("low", temperature=0.7).n) == \
        ("vote", 1)
    assert (p.plan("medium").strategy, p.plan("medium").n) == ("vote", 5)
    assert (p.plan("high").strategy, p.plan("high").n) == ("vote", 16)

    class PRM:
        flops_per_token = 1.0

    scored = Scorers(prm=PRM())
    assert p.plan("high", scored).strategy == "best_of_n"
    assert p.plan("high", scored).options == {"weighted": True}  # PRM-weighted best-of-N
    assert p.plan("high").strategy == "vote"  # no scorer, no weighting
    monkeypatch.delitem(STRATEGIES, "best_of_n")
    assert p.plan("high", scored).strategy == "vote"  # a scorer but no strategy for it


def test_auto_with_a_fitted_policy_runs_the_compute_optimal_strategy(make_engine):
    greedy, many = Choice("greedy", 1), Choice("vote", 8)
    policy = Policy(target_budget=8, choices={1: greedy, 2: greedy, 3: many, 4: many, 5: many})
    engine = make_engine(policy=EffortPolicy(auto_policy=policy))
    easy = run(engine, "What is 2 + 3?", effort="auto").choices[0]
    hard = run(engine, "hard: what is 2 + 3?", effort="auto").choices[0]
    assert (easy.info["strategy"], easy.info["effort_used"]) == ("optimal:greedy", "bin 1")
    assert easy.info["samples"] == 4 + 1  # the probes, then one greedy chain
    # the chosen vote@8 counts the 4 probes as its first samples and draws 4 more
    assert hard.info["strategy"] == "optimal:vote" and hard.info["samples"] == 8
    assert hard.info["predicted_difficulty"] > 0.25


def test_usage_bills_every_sample_and_shows_only_the_answer(make_engine):
    engine = make_engine()
    out = run(engine, "What is 17 + 25?", effort="medium")
    [c] = out.choices
    one = len(think(format_prompt("What is 17 + 25?"), None, 0.0))
    assert c.content == "Answer: 42" and c.finish_reason == "stop"
    assert c.completion_tokens == 5 * one  # five chains of thought, all billed
    assert c.reasoning_tokens == 5 * one - len("Answer: 42")
    assert c.info["samples"] == 5 and c.info["strategy"] == "vote"
    assert out.prompt_tokens == engine.lm.count_tokens(format_prompt("What is 17 + 25?"))


def test_auto_spends_little_on_easy_and_more_on_hard_prompts(make_engine):
    engine = make_engine()
    easy = run(engine, "What is 2 + 3?", effort="auto").choices[0]
    hard = run(engine, "hard: what is 2 + 3?", effort="auto").choices[0]
    assert easy.info["effort_used"] == "low" and easy.info["samples"] == 4
    assert easy.info["predicted_difficulty"] == 0.0
    assert hard.info["effort_used"] in ("medium", "high")
    assert hard.info["predicted_difficulty"] > 0.25
    assert hard.info["samples"] > 4 and hard.reasoning_tokens > easy.reasoning_tokens


def test_max_completion_tokens_bounds_all_chains_together(make_engine):
    engine = make_engine(max_tokens=100)  # each chain is capped at 100 tokens
    c = run(engine, "What is 17 + 25?", effort="high", max_completion_tokens=250)
    assert c.choices[0].info["samples"] == 2  # only two worst-case chains fit in 250
    assert c.choices[0].content == "Answer: 42" and c.choices[0].completion_tokens <= 250
    long = run(engine, "long: what is 1 + 2?", effort="high", max_completion_tokens=50)
    [c] = long.choices
    assert (c.content, c.finish_reason) == ("", "length")  # thinking was cut: no answer
    assert c.completion_tokens == c.reasoning_tokens == 50


def test_stop_sequences_cut_the_visible_answer(make_engine):
    c = run(make_engine(), "What is 17 + 25?", effort="low", stop=["2"]).choices[0]
    assert (c.content, c.finish_reason) == ("Answer: 4", "stop")


def test_choices_use_distinct_seeds(make_engine):
    out = run(make_engine(), "hard: what is 10 + 10?", effort="low", temperature=1.0, n=6)
    assert len(out.choices) == 6 and len({c.content for c in out.choices}) > 1


def test_prepare_rejects_bad_input(make_engine):
    engine = make_engine(FakeReasoner(max_context=40))
    for text, code in [("  \n", "empty_input"), ("What is 1 + 1? é", "unsupported_characters"),
                       ("x </think> y", "invalid_value"), ("x" * 60, "context_length_exceeded")]:
        with pytest.raises(BadRequest) as e:
            engine.prepare(text)
        assert e.value.code == code and e.value.param == "messages"
    for kw, param in [({"effort": "extreme"}, "reasoning_effort"),
                      ({"summary": "verbose"}, "reasoning.summary"), ({"n": 0}, "n")]:
        with pytest.raises(BadRequest) as e:
            engine.prepare("What is 1 + 1?", **kw)
        assert e.value.param == param
    q = engine.prepare("What is 1 + 1?", max_completion_tokens=500)
    assert q.max_tokens == 40 - q.prompt_tokens  # a chain never exceeds the context


def test_concurrent_requests_are_merged_into_shared_lm_calls(make_engine):
    lm = FakeReasoner(delay_s=0.01)
    engine = make_engine(lm, workers=8)
    jobs = [engine.submit(engine.prepare(f"What is {i} + 100?", effort="low"))
            for i in range(8)]
    outs = [j.future.result(timeout=30) for j in jobs]
    assert [o.choices[0].content for o in outs] == [f"Answer: {i + 100}" for i in range(8)]
    assert lm.calls < 8 and engine.batcher.merged >= 2


class ThreadSafeReasoner(FakeReasoner):
    """Batches concurrent calls itself, as the built-in model's engine does; counts how
    many of its calls run at once."""

    thread_safe = True

    def __init__(self, **kw):
        super().__init__(**kw)
        self.running = self.peak = 0

    def generate(self, *args, **kw):
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            return super().generate(*args, **kw)
        finally:
            with self._lock:
                self.running -= 1


def test_a_model_that_batches_itself_gets_each_call_directly_and_concurrently(make_engine):
    lm = ThreadSafeReasoner(delay_s=0.05)
    engine = make_engine(lm, workers=6)
    assert isinstance(engine.batcher, Direct)
    jobs = [engine.submit(engine.prepare(f"What is {i} + 7?", effort="low")) for i in range(6)]
    outs = [j.future.result(timeout=30) for j in jobs]
    assert [o.choices[0].content for o in outs] == [f"Answer: {i + 7}" for i in range(6)]
    assert lm.peak >= 2 and engine.batcher.calls == 6 and engine.batcher.merged == 0


def test_native_model_answers_the_same_alone_and_under_load(make_engine):
    from ponder.lm.native import NativeLM
    from tests.lm.test_sampler import TOK, tiny

    questions = [f"What is {i} * {i + 3}?" for i in range(8)]
    alone = make_engine(NativeLM(tiny(), TOK), workers=1)
    want = [run(alone, q, effort="medium", max_completion_tokens=60).choices[0].content
            for q in questions]
    busy = make_engine(NativeLM(tiny(), TOK), workers=8)
    jobs = [busy.submit(busy.prepare(q, effort="medium", max_completion_tokens=60))
            for q in questions]
    assert [j.future.result(timeout=60).choices[0].content for j in jobs] == want
    assert busy.lm.sampler.engine.peak_rows > 4  # requests' rows were decoded together


def test_a_failing_call_does_not_fail_the_calls_merged_with_it():
    def fn(prompt, rng, temperature):
        if "bad" in prompt:
            raise ValueError("boom")
        return "ok"

    from ponder.lm.function import FunctionLM

    batcher = Batcher(FunctionLM(fn))
    good, bad = Call(["good"], 1, 8, 0.0, 1.0, None, 0), Call(["bad"], 1, 8, 0.0, 1.0, None, 0)
    batcher._serve([good, bad])  # one merged batch, as if both had arrived together
    assert good.future.result()[0][0].text == "ok"
    with pytest.raises(ValueError, match="boom"):
        bad.future.result()
    batcher.close()


def test_queue_limit_raises_overloaded(make_engine):
    gate = threading.Event()
    engine = make_engine(FakeReasoner(gate=gate), max_pending=1, workers=1)
    first = engine.submit(engine.prepare("What is 1 + 1?", effort="low"))
    try:
        with pytest.raises(Overloaded):
            engine.submit(engine.prepare("What is 2 + 2?", effort="low"))
    finally:
        gate.set()
    first.future.result(timeout=30)
    deadline = time.monotonic() + 5
    while engine.pending and time.monotonic() < deadline:
        time.sleep(0.01)
    assert engine.pending == 0
    run(engine, "What is 2 + 2?", effort="low")  # room again


def test_cancel_stops_generation_between_chunks(make_engine):
    lm = FakeReasoner(delay_s=0.03)
    engine = make_engine(lm, samples_per_call=2)
    job = engine.submit(engine.prepare("What is 1 + 1?", effort="high"))  # 16 samples
    while lm.samples < 2:
        time.sleep(0.005)
    job.cancel()
    with pytest.raises(Cancelled):
        job.future.result(timeout=30)
    stopped = lm.samples
    time.sleep(0.2)
    assert lm.samples == stopped < 16


def test_cancelled_calls_are_skipped_by_the_batcher():
    lm = FakeReasoner()
    batcher = Batcher(lm)
    call = Call(["x"], 1, 8, 0.0, 1.0, None, 0, cancelled=threading.Event())
    call.cancelled.set()
    with pytest.raises(Cancelled):
        batcher.run(call)
    assert lm.calls == 0
    batcher.close()


def test_tokenizer_failures_on_input_are_bad_requests_but_setup_errors_are_not(make_engine):
    from ponder.errors import ModelError

    class HFLike(FakeReasoner):  # tokenizers' WordLevel raises a bare Exception
        def count_tokens(self, text):
            raise Exception("WordLevel error: Missing [UNK] token from the vocabulary")

    with pytest.raises(BadRequest) as e:
        make_engine(HFLike()).prepare("caf\u00e9")
    assert e.value.code == "unsupported_characters" and "[UNK]" in e.value.message

    class NoTokenizer(FakeReasoner):
        def count_tokens(self, text):
            raise ModelError("counting tokens needs the model's tokenizer")

    with pytest.raises(ModelError):
        make_engine(NoTokenizer()).prepare("What is 1 + 1?")


def test_each_choice_is_reported_thinking_again_after_the_previous_summary(make_engine):
    seen: list[str] = []
    holder: dict = {}

    class StageSpy(FakeReasoner):
        def _think(self, prompt, rng, temperature):
            if "job" in holder:
                seen.append(holder["job"].stage)
            return super()._think(prompt, rng, temperature)

    engine = make_engine(StageSpy(delay_s=0.05))
    job = engine.submit(engine.prepare("What is 1 + 2?", effort="low", n=3,
                                       summary="concise"))
    holder["job"] = job
    out = job.future.result(timeout=30)
    assert all(c.summary for c in out.choices)
    assert len(seen) >= 2 and set(seen) == {"thinking"}  # never "summarizing" while sampling


def test_a_closed_engine_refuses_new_requests_without_leaking_them(make_engine):
    from ponder.serve.errors import Unavailable

    engine = make_engine()
    query = engine.prepare("What is 1 + 1?", effort="low")
    engine.close()
    with pytest.raises(Unavailable) as e:
        engine.submit(query)
    assert e.value.status == 503 and engine.pending == 0
