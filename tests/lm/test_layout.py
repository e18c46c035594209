import random

import pytest
import torch

from ponder.lm.layout import MIN_COLUMNS, CacheArena, _grow, move_rows, split_rows, waves
from ponder.lm.sampler import Sampler
from tests.lm.test_sampler import TOK, tiny


def engine_with_span(first: int, col: int):
    """An engine whose two rows hold columns [first, col) of a cache of at least ``col``
    columns, each slot set to a value naming its row, column and layer."""
    eng = Sampler(tiny(), TOK).engine
    eng._fresh_weights()
    eng._ensure(rows=2, cols=col)
    eng.rows[0] = eng.rows[1] = object()  # occupied (the shift only reads their count)
    eng.hi, eng.n_active, eng.col, eng.steps = 2, 2, col, 0
    eng.real[:2, first:col] = True
    for layer, kv in enumerate(eng.cache):
        stamp = (torch.arange(kv.shape[1])[:, None] * 1000 + torch.arange(kv.shape[3])[None]
                 + 0.5 + layer * 10000.0)
        kv.copy_(stamp[None, :, None, :, None].expand_as(kv))
    return eng


@pytest.mark.parametrize("first, col", [
    (40, 60),  # most columns dead: the span moves past itself
    (10, MIN_COLUMNS),  # the columns ran out: the span overlaps where it goes, in pieces
    (1, MIN_COLUMNS),  # a shift too short for pieces: the span is staged
])
def test_shifting_the_live_span_to_column_zero_keeps_every_value(first, col):
    eng = engine_with_span(first, col)
    assert eng.cache[0].shape[3] == MIN_COLUMNS
    want = [kv[:, :2, :, first:col].clone() for kv in eng.cache]
    eng._room()
    assert eng.col == col - first
    for kv, w in zip(eng.cache, want, strict=True):
        assert torch.equal(kv[:, :2, :, : col - first], w)
    assert eng.real[:2, : col - first].all() and not eng.real[:2, col - first:].any()
    assert eng.cache[0].shape[3] >= eng.col + 1  # the next step has a column to write


def test_split_rows_cuts_where_the_first_columns_jump():
    starts = [0, 2, 1, 50, 52, 51, 90, 95]
    runs = split_rows(starts, 100, max_segments=4, min_reads=1)
    assert runs[:3] == [(0, 3), (3, 6), (6, 7)] or runs[:2] == [(0, 3), (3, 6)]
    assert sum(b - a for a, b in runs) == len(starts) and runs[0][0] == 0
    assert all(x[1] == y[0] for x, y in zip(runs, runs[1:], strict=False))  # contiguous


def test_split_rows_respects_its_limits():
    starts = [0, 0, 60, 60]
    assert split_rows(starts, 100, max_segments=1, min_reads=1) == [(0, 4)]
    # the split saves 2 rows x 60 columns = 120 reads: not enough for 121
    assert split_rows(starts, 100, max_segments=4, min_reads=121) == [(0, 4)]
    assert split_rows(starts, 100, max_segments=4, min_reads=120) == [(0, 2), (2, 4)]
    assert split_rows([7], 10, max_segments=4, min_reads=1) == [(0, 1)]


def test_grow_doubles_the_short_dimension_only():
    assert _grow(64, 65, 1, 256) == 128  # short: doubled
    assert _grow(200, 300, 1, 256) == 300  # past the cap: what is asked
    assert _grow(256, 100, 1, 256) == 256  # not short: kept
    assert _grow(0, 5, MIN_COLUMNS) == MIN_COLUMNS


@pytest.mark.parametrize("tight", [True, False])
def test_the_cache_sheds_a_long_rows_width_only_past_its_budget(monkeypatch, tight):
    monkeypatch.setattr("ponder.lm.layout.MIN_COLUMNS", 8)
    s = Sampler(tiny(), TOK)
    s.generate([[TOK.bos_id]], max_tokens=60, temperature=1.0, ignore_eos=True)
    wide = s.engine.cache[0].shape[3]
    assert wide >= 60
    if tight:  # 41 rows of 20 columns: many short rows cannot keep the long row's width
        s.cache_bytes = s.engine._column_bytes() * 41 * 20
    s.generate([[TOK.bos_id]] * 40, max_tokens=3, temperature=1.0)
    rows, cols = s.engine.cache[0].shape[1], s.engine.cache[0].shape[3]
    assert rows >= 40
    # past the budget: sized by what the 40 rows need; within it: kept, so that a long
    # row admitted next does not grow the columns back
    assert cols == 20 if tight else cols == wide


def test_moving_rows_equals_reading_every_source_before_writing():
    rng = random.Random(0)
    for _ in range(200):  # permutations with cycles, chains into holes, rows left alone
        R, C = rng.randint(1, 10), 6
        cache = [torch.randn(2, R, 2, C, 3) for _ in range(2)]
        k = rng.randint(0, R)
        pairs = list(zip(rng.sample(range(R), k), rng.sample(range(R), k), strict=True))
        first = rng.randint(0, 3)
        col = rng.randint(first, C)
        want = [kv.clone() for kv in cache]
        for w, kv in zip(want, cache, strict=True):
            for d, s in pairs:
                w[:, d, :, first:col] = kv[:, s, :, first:col]
        move_rows(cache, pairs, first, col)
        for w, kv in zip(want, cache, strict=True):
            assert torch.equal(w, kv), pairs


def test_the_arena_hands_out_zeroed_caches_in_memory_it_keeps():
    dec = Sampler(tiny(), TOK).decoder()
    arena = CacheArena()
    a = arena.new_cache(dec, 3, 5)
    want = dec.new_cache(3, 5)
    assert [t.shape for t in a] == [t.shape for t in want]
    assert all(t.dtype == w.dtype and not t.any() for t, w in zip(a, want, strict=True))
    b = arena.new_cache(dec, 2, 4)  # the same admission: its own memory (a larger buffer)
    for t in a:
        t.fill_(1.0)
    assert not any(t.any() for t in b)
    arena.reset()
    c = arena.new_cache(dec, 3, 5)  # the next admission reuses the memory, zeroed again
    assert c[0].data_ptr() == b[0].data_ptr()
    assert not any(t.any() for t in c)
    arena.release()  # an idle engine gives the memory back
    assert arena.buffers == [] and arena.new_cache(dec, 1, 2)[0].shape[1] == 1


def test_waves_copy_each_prompts_rows_once_and_gather_only_when_needed():
    pairs = [(5, 0), (6, 1), (7, 0), (8, 1), (9, 0)]  # 3 samples of prompt 0, 2 of prompt 1
    out = waves(pairs, 2)
    assert [w[0].tolist() for w in out] == [[5, 6], [7, 8], [9]]
    assert out[0][1] is None and out[1][1] is None  # prompts 0, 1 in order: no gather
    assert out[2][1].tolist() == [0]
    got = sorted((r, u) for d, s in out
                 for r, u in zip(d.tolist(), s.tolist() if s is not None else range(2),
                                 strict=True))
    assert got == sorted(pairs)
    assert waves([(3, 1), (4, 0)], 2)[0][1].tolist() == [1, 0]  # out of order: gathered
