import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from ponder.lm.base import Cancelled
from ponder.lm.engine import Engine, Request
from ponder.lm.sampler import Sampler
from tests.lm.test_sampler import TOK, enc, naive_greedy, tiny


def ids_of(c) -> list[int]:
    return TOK.encode(c.text) + ([TOK.eos_id] if c.finish_reason == "eos" else [])


def solo(model, prompt, limit, seed, temperature=1.0, top_p=1.0):
    (c,), = Sampler(model, TOK).generate([prompt], max_tokens=limit, temperature=temperature,
                                         top_p=top_p, seeds=[seed])
    return c


def test_concurrent_callers_share_batches_and_get_their_own_samples():
    model = tiny()
    s = Sampler(model, TOK)
    jobs = [(enc("q" * (1 + i % 7)), 5 + (3 * i) % 17, 100 + i, 0.7 + 0.1 * (i % 4),
             1.0 if i % 3 else 0.8) for i in range(24)]
    with ThreadPoolExecutor(12) as pool:
        got = list(pool.map(lambda j: s.generate([j[0]], max_tokens=j[1], temperature=j[3],
                                                 top_p=j[4], seeds=[j[2]])[0][0], jobs))
    for (p, lim, seed, temp, top_p), c in zip(jobs, got, strict=True):
        want = solo(model, p, lim, seed, temp, top_p)
        assert (c.text, c.tokens, c.finish_reason) == (want.text, want.tokens, want.finish_reason)
        assert c.token_logprobs == pytest.approx(want.token_logprobs, abs=1e-4)
    assert s.engine.peak_rows > 1  # callers on different threads were decoded together


def test_cache_slots_start_at_zero_so_masked_out_reads_stay_finite():
    # decoding multiplies masked-out slots by a probability of 0: a NaN or infinity left
    # in freed memory would turn a row's logits into NaN (and its text into <pad>)
    model = tiny()
    dec = Sampler(model, TOK).decoder()
    shape = (2, 6, model.cfg.n_head, 48, model.cfg.head_dim)
    for _ in range(4):
        junk = [torch.full(shape, float("nan")) for _ in range(model.cfg.n_layer)]
        del junk  # the allocator hands this memory out again
        cache = dec.new_cache(6, 48)
        assert all(kv.shape == shape and not kv.any() for kv in cache)


def test_requests_join_a_running_batch_between_steps():
    model = tiny()
    s = Sampler(model, TOK)
    eng = s.engine
    long = Request(tuple(enc("a long running one")), 40, seed=1, temperature=1.0)
    eng.submit([long])
    while eng.steps < 3:  # the long row is mid-way
        threading.Event().wait(0.001)
    short = [Request(tuple(enc("x" * k)), 4, seed=k, temperature=1.0) for k in (1, 2, 3)]
    eng.submit(short)
    for q in short:
        q.future.result(timeout=30)
    assert not long.future.done() or eng.peak_rows == 4
    c = long.future.result(timeout=30)
    assert eng.peak_rows == 4  # the short ones ran beside it, not after it
    assert c.text == solo(model, list(long.prompt), 40, 1).text
    assert eng.steps < 40 + 4  # and cost no decode steps of their own


def test_greedy_rows_equal_the_naive_loop_across_column_shifts_and_growth(monkeypatch):
    monkeypatch.setattr("ponder.lm.layout.MIN_COLUMNS", 8)  # force shifts and regrowth
    model = tiny()
    s = Sampler(model, TOK)
    prompts = [enc("w" * (1 + i % 5) + str(i)) for i in range(10)]
    limits = [3 + (7 * i) % 30 for i in range(10)]
    reqs = [Request(tuple(p), m, seed=0, temperature=0.0, eos=TOK.eos_id)
            for p, m in zip(prompts, limits, strict=True)]
    s.engine.submit(reqs[:3])  # the rest arrive while these run
    reqs[0].future.result(timeout=30)
    s.engine.submit(reqs[3:])
    for p, m, q in zip(prompts, limits, reqs, strict=True):
        assert ids_of(q.future.result(timeout=30)) == naive_greedy(model, p, m, TOK.eos_id)


def run_alternating(monkeypatch, **settings):
    """Sampled rows whose prompts alternate long and short (so their first columns
    alternate too), admitted together; the engine and the completions."""
    for name, value in settings.items():
        monkeypatch.setattr(f"ponder.lm.layout.{name}", value)
    model = tiny()
    s = Sampler(model, TOK)
    prompts = [enc(("a long prompt " * 3 if i % 2 else "s") + str(i)) for i in range(12)]
    reqs = [Request(tuple(p), 6 + (5 * i) % 13, seed=i, temperature=1.0)
            for i, p in enumerate(prompts)]
    s.engine.submit(reqs)
    return model, s.engine, prompts, reqs, [q.future.result(timeout=30) for q in reqs]


def test_rows_split_into_runs_and_put_in_order_sample_what_they_sample_alone(monkeypatch):
    model, eng, prompts, reqs, got = run_alternating(
        monkeypatch, SEGMENT_MIN_READS=1, SORT_HORIZON=1000)
    assert eng._sorted_at >= 0  # the rows were put in order of their first column
    for p, q, c in zip(prompts, reqs, got, strict=True):
        want = solo(model, p, q.limit, q.seed)
        assert (c.text, c.finish_reason) == (want.text, want.finish_reason)
        assert c.token_logprobs == pytest.approx(want.token_logprobs, abs=1e-4)


def test_runs_of_rows_read_fewer_columns_than_one_span(monkeypatch):
    _, eng_one, _, _, one = run_alternating(monkeypatch, MAX_SEGMENTS=1)
    _, eng_split, _, _, split = run_alternating(monkeypatch, MAX_SEGMENTS=4,
                                                SEGMENT_MIN_READS=1, SORT_HORIZON=1000)
    assert [c.text for c in split] == [c.text for c in one]
    assert eng_split.kv_live == eng_one.kv_live
    assert eng_split.kv_read < 0.8 * eng_one.kv_read


def test_cancelled_requests_stop_and_errors_reach_every_waiter():
    model = tiny()
    s = Sampler(model, TOK)
    stop_it = threading.Event()
    q = Request(tuple(enc("abc")), 50, seed=0, cancelled=stop_it)
    stop_it.set()
    s.engine.submit([q])
    with pytest.raises(Cancelled):
        q.future.result(timeout=30)
    broken = Request(tuple([TOK.vocab_size + 5]), 5, seed=0)  # an id past the embedding
    fine = Request(tuple(enc("ok")), 5, seed=0)
    s.engine.submit([broken, fine])
    with pytest.raises(IndexError):
        broken.future.result(timeout=30)
    with pytest.raises(IndexError):  # admitted in the same step: it fails with it
        fine.future.result(timeout=30)
    again = s.generate([enc("ok")], max_tokens=5, temperature=0)[0][0]  # the engine lives on
    assert ids_of(again) == naive_greedy(model, enc("ok"), 5, TOK.eos_id)


def test_weights_change_between_batches_is_seen():
    model = tiny()
    s = Sampler(model, TOK)
    before = s.generate([enc("abc")], max_tokens=8, temperature=0)[0][0]
    with torch.no_grad():
        model.model.layers[1].mlp.down_proj.weight.mul_(-2)
    after = s.generate([enc("abc")], max_tokens=8, temperature=0)[0][0]
    assert ids_of(after) == naive_greedy(model, enc("abc"), 8, TOK.eos_id)
    assert after.text != before.text


def test_engine_counts_steps_and_rows():
    model = tiny()
    eng = Engine(Sampler(model, TOK))
    eng.log = []
    reqs = [Request(tuple(enc("p")), 6, seed=i, temperature=0.5) for i in range(4)]
    eng.submit(reqs)
    for q in reqs:
        assert q.future.result(timeout=30).tokens == 6
    assert eng.log == [(tuple(enc("p")), 6, 0.5)] * 4  # what a benchmark replays
    # four rows of six tokens: the first token comes from the prefill, then 5 steps
    assert (eng.steps, eng.row_steps, eng.peak_rows) == (5, 20, 4)
    # each step attends over BOS, "p" and the tokens so far: 3, 4, ... 7 columns a row
    assert eng.kv_live == eng.kv_read == 4 * (3 + 4 + 5 + 6 + 7)


def test_attention_reads_count_the_span_of_the_longest_row():
    model = tiny()
    eng = Engine(Sampler(model, TOK))
    short, long = enc("p"), enc("a much longer prompt")
    reqs = [Request(tuple(p), 3, seed=i) for i, p in enumerate((short, long))]
    eng.submit(reqs)  # admitted together, right-aligned: the short row reads the long span
    for q in reqs:
        q.future.result(timeout=30)
    a, b = len(short), len(long)
    assert eng.steps == 2
    assert eng.kv_read == sum(2 * (b + k) for k in (1, 2))
    assert eng.kv_live == sum((a + k) + (b + k) for k in (1, 2))


def test_a_prompt_that_continues_a_finished_sequence_reuses_its_keys_and_values():
    model = tiny()
    s = Sampler(model, TOK)
    prompt = enc("a prompt of twenty-five chars")
    (whole,), = s.generate([prompt], max_tokens=30, temperature=0)
    ids = ids_of(whole)
    before = s.prefill_tokens
    (rest,), = s.generate([prompt + ids[:12]], max_tokens=18, temperature=0)
    # the first call kept its prompt and 29 tokens; the new prompt shares all but its last
    assert (s.engine.prefix_hits, s.engine.prefix_tokens_saved) == (1, len(prompt) + 11)
    assert s.prefill_tokens - before == 1  # only that last token ran
    assert ids_of(rest) == ids[12:]
    assert rest.token_logprobs == pytest.approx(whole.token_logprobs[12:], abs=1e-4)
    # accounting as if the whole prompt had been prefilled: same FLOPs either way
    cold = Sampler(model, TOK).generate([prompt + ids[:12]], max_tokens=18, temperature=0)
    assert rest.flops == pytest.approx(cold[0][0].flops)


def test_prompts_a_few_tokens_past_a_stored_sequence_are_fed_by_decoding_steps():
    """Up to FEED_MAX new tokens go through the batch's decoding steps (no prefill),
    longer remainders through a prefill after the stored part; either way the samples
    are the ones a fresh engine draws for the same seeds, beside other rows."""
    model = tiny()
    s = Sampler(model, TOK)
    prompt = enc("a prompt of twenty-five chars")
    (whole,), = s.generate([prompt], max_tokens=30, temperature=0)
    ids = ids_of(whole)
    fed = prompt + ids[:10] + TOK.encode("xy")  # 2 tokens past the stored sequence
    hot = prompt + ids[:10] + TOK.encode(" then twelve")  # 12 past it
    prompts = [fed, enc("a cold prompt"), hot]
    before, steps = s.prefill_tokens, s.engine.steps
    out = s.generate(prompts, n=2, max_tokens=8, temperature=0.8, seeds=[1, 2, 3, 4, 5, 6])
    assert s.engine.prefix_hits == 2 and s.prefill_tokens - before == 2 + 14 + 12
    assert s.engine.steps - steps >= 7 + 2  # the fed rows decoded their 2 tokens first
    cold = Sampler(model, TOK).generate(prompts, n=2, max_tokens=8, temperature=0.8,
                                        seeds=[1, 2, 3, 4, 5, 6])
    for mine, theirs in zip(out, cold, strict=True):
        assert [c.text for c in mine] == [c.text for c in theirs]
        for a, b in zip(mine, theirs, strict=True):
            assert a.token_logprobs == pytest.approx(b.token_logprobs, abs=1e-4)
            assert a.flops == pytest.approx(b.flops)


def test_a_cancelled_row_still_feeding_its_prompt_is_dropped():
    model = tiny()
    s = Sampler(model, TOK)
    prompt = enc("a prompt of twenty-five chars")
    (whole,), = s.generate([prompt], max_tokens=30, temperature=0)

    class SetOnSecondLook(threading.Event):  # admitted, then cancelled while feeding
        looks = 0

        def is_set(self):
            self.looks += 1
            return self.looks > 1

    stop_it = SetOnSecondLook()
    q = Request(tuple(prompt + ids_of(whole)[:10] + TOK.encode("xyz")), 5, seed=0,
                cancelled=stop_it)
    s.engine.submit([q])
    with pytest.raises(Cancelled):
        q.future.result(timeout=30)
    assert s.engine.prefix_hits == 1 and s.engine.n_feeding == 0
    again = s.generate([enc("ok")], max_tokens=5, temperature=0)[0][0]
    assert ids_of(again) == naive_greedy(model, enc("ok"), 5, TOK.eos_id)


def test_an_idle_worker_ends_and_the_next_call_starts_another(monkeypatch):
    """The worker does not stay on (its OpenMP threads would spin beside other work)."""
    monkeypatch.setattr("ponder.lm.threads.IDLE_EXIT_S", 0.2)
    s = Sampler(tiny(), TOK)
    first = s.generate([enc("12")], max_tokens=4, temperature=0.0)[0][0].text
    worker = s.engine._thread
    deadline = time.monotonic() + 5.0
    while s.engine._thread is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert s.engine._thread is None
    assert worker is not None
    worker.join(timeout=5.0)
    assert not worker.is_alive()
    steps = s.engine.steps
    assert s.generate([enc("12")], max_tokens=4, temperature=0.0)[0][0].text == first
    assert s.engine.steps > steps  # a new worker decoded it


def test_the_worker_decodes_with_one_thread_unless_the_step_is_large(monkeypatch):
    """Many threads only pay for steps with enough matmul work (PARALLEL_FLOPS)."""
    monkeypatch.setattr("ponder.lm.threads.PARALLEL_FLOPS", 5e8)
    eng = Sampler(tiny(), TOK, max_batch=256).engine
    eng._threads = 2
    seen = []

    def pick(rows: int, flops: float) -> None:
        eng.n_active, eng.sampler._flops = rows, (flops, 0.0)
        eng._set_threads()
        seen.append(torch.get_num_threads())

    def worker() -> None:  # torch's thread count is per thread
        pick(10, 1e6)  # 1e7 FLOPs a step: one thread
        pick(100, 1e7)  # 1e9: the caller's two
        pick(10_000, 1e6)  # rows beyond max_batch do not count: 2.56e8, one thread
        eng.n_active = 0

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [1, 2, 1]
