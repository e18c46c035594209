import doctest

import pytest
import torch

import ponder.train.flops as flops_mod
import ponder.train.packing as packing_mod
from ponder.errors import ConfigError
from ponder.lm.tokenizer import CharTokenizer
from ponder.train.data import TaskMixture, encode_example
from ponder.train.flops import attended_context, mfu, train_flops_per_token
from ponder.train.loop import TrainConfig, train
from ponder.train.packing import Packer, first_fit_decreasing
from ponder.train.sft import build_model
from ponder.train.state import read_metrics, read_state
from tests.toy import SumTask

TOK = CharTokenizer()


def test_doctests():
    assert doctest.testmod(packing_mod).failed == 0
    assert doctest.testmod(flops_mod).failed == 0


def test_first_fit_decreasing_places_every_item_once_within_capacity():
    lengths = [7, 3, 9, 1, 4, 4, 6, 2, 8, 5]
    bins = first_fit_decreasing(lengths, 10)
    assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= 10 for b in bins)
    assert len(bins) == 5  # sum 49: five bins is optimal
    assert first_fit_decreasing([], 10) == []


def _row_tokens(batch, r):
    """The row's whole token sequence: first input, then every real target."""
    real = batch.targets[r] != -1
    return [int(batch.idx[r, 0])] + batch.targets[r][real].tolist()


def test_packed_batches_hold_each_example_once_with_the_mask_on_completions_only():
    mix = TaskMixture([SumTask()], seed=0)
    packer = Packer(mix, TOK, rows=4, row_len=96, window=40, seed=0)
    start, row, batches = 0, 0, []
    while start < 80:  # two whole windows
        batch, start, row = packer(start, row)
        batches.append(batch)
    assert start == 80  # the last batch may have taken `row` rows of the third window
    spill = [tuple(e[0]) for r in packer.window_rows(80)[:row] for e, _ in r]
    seen = []
    for batch in batches:
        assert batch.idx.shape == (4, 96)
        for r in range(batch.idx.shape[0]):
            if (batch.targets[r] == -1).all():
                continue  # an empty row after the last window's rows ran out
            tokens = _row_tokens(batch, r)
            segs = [s for s in batch.segments if s.row == r]
            for s in segs:  # each segment is one whole example, <bos> .. <eos>
                ex = tokens[s.start : s.stop + 1]
                assert ex[0] == TOK.bos_id and ex[-1] == TOK.eos_id
                seen.append(tuple(ex))
                # the mask covers exactly that example's completion + eos
                mask = batch.mask[r, s.start : s.stop].tolist()
                targets = batch.targets[r, s.start : s.stop].tolist()
                completion = [t for t, m in zip(targets, mask, strict=True) if m]
                assert s.source[0] == "toysum"
                assert TOK.decode(completion).endswith("<eos>")
            assert sum(s.stop - s.start + 1 for s in segs) == len(tokens)
            assert batch.mask[r].sum() == sum(batch.mask[r, s.start : s.stop].sum()
                                              for s in segs)
    expected = [tuple(encode_example(TOK, mix[i])[0]) for i in range(80)]
    assert sorted(seen) == sorted(expected + spill)  # every example exactly once
    total_mask = sum(float(b.mask.sum()) for b in batches)
    spill_mask = sum(sum(e[1][1:]) for r in packer.window_rows(80)[:row] for e, _ in r)
    assert total_mask == spill_mask + sum(sum(encode_example(TOK, mix[i])[1][1:])
                                          for i in range(80))
    # packing leaves little padding (here: rows of ~3 examples, a few tail rows per window)
    pad = 1 - sum(b.n_tokens for b in batches) / sum(b.targets.numel() for b in batches)
    assert pad < 0.25


def test_packed_batch_depends_only_on_the_run_position():
    mix = TaskMixture([SumTask()], seed=0)
    packer = Packer(mix, TOK, rows=3, row_len=96, window=16, seed=0)
    positions, batches = [(0, 0)], []
    for _ in range(6):
        batch, s, r = packer(*positions[-1])
        batches.append(batch)
        positions.append((s, r))
    fresh = Packer(mix, TOK, rows=3, row_len=96, window=16, seed=0)
    for k in (4, 2, 5):
        again, s, r = fresh(*positions[k])
        assert torch.equal(again.idx, batches[k].idx) and (s, r) == positions[k + 1]
        assert torch.equal(again.mask, batches[k].mask)


def test_flop_arithmetic():
    model = build_model("tiny", TOK, max_seq_len=96)
    n = model.num_params(non_embedding=True) + model.cfg.vocab_size * model.cfg.d_model
    ctx = attended_context(96)
    forward = 2 * n + 2 * model.cfg.n_layer * ctx * model.cfg.d_model
    assert train_flops_per_token(model.flops_per_token(ctx)) == pytest.approx(3 * forward)
    assert mfu(5e9, 1e10) == 0.5 and mfu(5e9, 0.0) == 0.0


def test_matmul_peak_is_measured_in_the_type_asked_for(monkeypatch):
    seen, mm = set(), torch.mm

    def spy(a, b):
        seen.add(a.dtype)
        return mm(a, b)

    monkeypatch.setattr(torch, "mm", spy)
    assert flops_mod.matmul_peak_flops(1, n=64, seconds=0.02, dtype=torch.bfloat16) > 0
    assert seen == {torch.bfloat16}


class _Stop(Exception):
    pass


def test_packed_training_logs_padding_and_flops_and_resumes_exactly(tmp_path):
    mix = TaskMixture([SumTask()], seed=0)
    cfg = TrainConfig(steps=6, batch_size=2, warmup_steps=1, log_every=2, save_every=3,
                      eval_every=1, precision="fp32", threads=1)

    def run(out, seed=0, stop_at=None, resume=False):
        def evaluate(model, step):
            if step == stop_at:
                raise _Stop  # a crash after the save at step 3
            return {}

        return train(build_model("tiny", TOK, seed=seed, max_seq_len=96), TOK, mix, cfg,
                     out, evaluate=evaluate, resume=resume, progress=False)

    full = run(tmp_path / "a")
    records = [r for r in read_metrics(tmp_path / "a") if r["kind"] == "train"]
    assert all(0 <= r["pad_share"] < 0.5 and r["flops_per_s"] > 0 and 0 < r["mfu"] < 5
               for r in records)
    state = read_state(tmp_path / "a")["run"]
    assert state["pack_len"] == 96 and state["meta"]["matmul_peak_flops"] > 0
    assert state["meta"]["matmul_peak_dtype"] == "float32"  # the peak of what it ran in
    with pytest.raises(_Stop):
        run(tmp_path / "b", stop_at=4)
    assert read_state(tmp_path / "b")["run"]["step"] == 3
    resumed = run(tmp_path / "b", seed=1, resume=True)
    assert resumed.step == 6 and resumed.tokens == full.tokens
    assert resumed.loss == pytest.approx(full.loss, rel=1e-6)
    unpacked = TrainConfig(**{**cfg.__dict__, "pack": False, "steps": 8})
    with pytest.raises(ConfigError, match="pack"):
        train(build_model("tiny", TOK, max_seq_len=96), TOK, mix, unpacked, tmp_path / "b",
              resume=True, progress=False)
    with pytest.raises(ConfigError, match="pack_len"):
        train(build_model("tiny", TOK, max_seq_len=96), TOK, mix,
              TrainConfig(steps=1, pack_len=200), None, progress=False)
