import threading

import pytest

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
