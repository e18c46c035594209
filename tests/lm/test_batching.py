import threading
import time

import pytest
import torch

from ponder.lm.batching import BatchedLM, map_ordered, shared
from ponder.lm.function import FunctionLM
from ponder.lm.native import NativeLM
from tests.lm.test_sampler import TOK, tiny


def echo() -> FunctionLM:
    return FunctionLM(lambda prompt, rng, temperature: f"{prompt}:{rng.randint(0, 999)}")


def test_batched_lm_merges_calls_from_threads_and_hands_each_its_rows():
    lm = echo()
    alone = [lm.generate([f"q{i}"], n=2, seed=7)[0] for i in range(12)]
    calls_alone = lm.calls
    batched = BatchedLM(lm, window_s=0.05)
    start = threading.Barrier(12)

    def ask(i: int) -> list[str]:
        start.wait()
        return [c.text for c in batched.generate([f"q{i}"], n=2, seed=7)[0]]

    try:
        got = list(map_ordered(ask, range(12), workers=12))
    finally:
        batched.close()
    assert got == [[c.text for c in row] for row in alone]
    assert lm.calls - calls_alone < 12  # calls that arrived together were merged
    assert batched.name == lm.name and batched.max_context == lm.max_context


def test_shared_wraps_only_what_is_not_thread_safe():
    native = NativeLM(tiny(), TOK)
    assert shared(native) is native
    wrapped = shared(echo())
    assert isinstance(wrapped, BatchedLM)
    wrapped.close()


def test_map_ordered_keeps_order_and_raises_the_first_error():
    assert list(map_ordered(lambda x: x * x, range(20), workers=5)) == [x * x for x in range(20)]

    def boom(x: int) -> int:
        if x == 3:
            raise ValueError("three")
        return x

    with pytest.raises(ValueError, match="three"):
        list(map_ordered(boom, range(8), workers=4))


def test_the_batcher_worker_ends_when_idle_and_the_next_call_starts_another(monkeypatch):
    monkeypatch.setattr("ponder.lm.threads.IDLE_EXIT_S", 0.2)
    lm = echo()
    batched = BatchedLM(lm, window_s=0.0)
    first = batched.generate(["q"], seed=3)[0][0].text
    worker = batched.batcher._thread
    assert worker is not None
    worker.join(timeout=5.0)  # it ends by itself
    assert not worker.is_alive() and batched.batcher._thread is None
    assert batched.generate(["q"], seed=3)[0][0].text == first  # a new worker served it
    batched.close()
    assert batched.batcher._thread is None
    time.sleep(0.01)
    assert batched.generate(["q"], seed=3)[0][0].text == first  # after close, too
    batched.close()


def test_the_batcher_computes_with_one_thread_for_a_small_model(monkeypatch):
    """The callers' threads only for calls of enough FLOPs (ponder.lm.threads)."""
    seen = []

    class Counting(FunctionLM):
        def generate(self, prompts, **kw):
            seen.append(torch.get_num_threads())
            return super().generate(prompts, **kw)

    lm = Counting(lambda prompt, rng, temperature: prompt)
    batched = BatchedLM(lm, window_s=0.0)
    monkeypatch.setattr("ponder.lm.threads.PARALLEL_FLOPS", 1e9)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        lm.flops_per_token = 1e6  # 4 rows: 4e6 FLOPs, one thread
        batched.generate(["a", "b", "c", "d"])
        lm.flops_per_token = 1e9  # 4e9: the caller's two
        batched.generate(["a", "b", "c", "d"])
    finally:
        torch.set_num_threads(before)
        batched.close()
    assert seen == [1, 2]
