import pytest
import torch

import ponder.train.loop as loop_mod
from ponder.errors import ConfigError
from ponder.lm.digits import digit_runs
from ponder.train.data import TaskMixture
from ponder.train.loop import TrainConfig, train
from ponder.train.positions import random_positions
from ponder.train.sft import build_model
from tests.train.test_sft import TOK, ShortSumTask, tiny_model


def test_span_one_is_the_ordinary_positions():
    assert random_positions(2, 5, 1.0).tolist() == [[0, 1, 2, 3, 4]] * 2


def test_rows_are_increasing_samples_of_the_stretched_range_at_mean_gap_one():
    g = torch.Generator().manual_seed(0)
    p = random_positions(64, 40, 2.5, g)
    assert p.shape == (64, 40) and p.dtype == torch.float32
    slots = p * 2.5  # the sampled slots of [0, 100)
    assert torch.allclose(slots, slots.round(), atol=1e-4)
    assert bool((p[:, 1:] > p[:, :-1]).all())  # order kept, no repeats
    assert float(slots.min()) >= 0 and float(slots.max()) < 100
    # the range is used, not only its start, and the gaps vary around 1
    assert float(slots[:, -1].max()) >= 95
    gaps = p[:, 1:] - p[:, :-1]
    assert float(gaps.min()) < 1 < float(gaps.max())
    assert abs(float((p[:, -1] - p[:, 0]).mean()) / 39 - 1) < 0.1
    assert not torch.equal(p[0], p[1])  # each row its own draw
    again = random_positions(64, 40, 2.5, torch.Generator().manual_seed(0))
    assert torch.equal(p, again)


def test_bad_span_is_refused():
    with pytest.raises(ConfigError, match="span"):
        random_positions(1, 4, 0.5)


def test_a_position_span_trains_on_randomized_positions_and_resumes_exactly(tmp_path,
                                                                             monkeypatch):
    mix = TaskMixture([ShortSumTask()], seed=0)
    cfg = TrainConfig(steps=6, batch_size=4, warmup_steps=2, log_every=2, save_every=3,
                      precision="fp32", pack_len=64, position_span=2.0)
    seen = []
    real = loop_mod.batch_loss

    def spy(model, batch, *a, **k):
        seen.append(batch.positions)
        return real(model, batch, *a, **k)

    monkeypatch.setattr(loop_mod, "batch_loss", spy)
    a = train(tiny_model(), TOK, mix, cfg, tmp_path / "a", progress=False)
    assert all(p is not None and p.shape[1] == 64 and float(p.max()) < 64 for p in seen)
    assert any(not torch.equal(p, p.round()) for p in seen)  # not the ordinary 0..63
    plain = train(tiny_model(), TOK, mix, TrainConfig(**{**cfg.__dict__, "position_span": 1.0}),
                  None, progress=False)
    assert a.loss != plain.loss
    # the positions are drawn from where the run stands, so a resumed run repeats them
    part = TrainConfig(**{**cfg.__dict__, "steps": 3})
    train(tiny_model(), TOK, mix, part, tmp_path / "b", progress=False)
    b = train(tiny_model(), TOK, mix, cfg, tmp_path / "b", resume=True, progress=False)
    assert b.loss == pytest.approx(a.loss, rel=1e-5)


def test_digit_indices_train_at_random_offsets_and_resume_exactly(tmp_path, monkeypatch):
    mix = TaskMixture([ShortSumTask()], seed=0)
    cfg = TrainConfig(steps=6, batch_size=4, warmup_steps=2, log_every=2, save_every=3,
                      precision="fp32", pack_len=64)
    seen = []
    real = loop_mod.batch_loss

    def spy(model, batch, *a, **k):
        seen.append((batch.idx, batch.digits))
        return real(model, batch, *a, **k)

    monkeypatch.setattr(loop_mod, "batch_loss", spy)

    def digit_model():
        return build_model("tiny", TOK, seed=0, max_seq_len=96, digit_index=16)

    a = train(digit_model(), TOK, mix, cfg, tmp_path / "a", progress=False)
    for idx, digits in seen:  # each row's digit runs, shifted by one offset in [0, 8]
        runs = digit_runs(idx, TOK.stoi["0"])
        assert torch.equal(digits == 0, runs == 0)
        shift = (digits - runs).masked_fill(runs == 0, -1).max(dim=1).values
        assert ((digits - runs == shift[:, None]) | (runs == 0)).all()
        assert 0 <= int(shift.min()) and int(shift.max()) <= 8
    assert len({int(o) for _, d in seen for o in d.max(dim=1).values}) > 3
    part = TrainConfig(**{**cfg.__dict__, "steps": 3})
    train(digit_model(), TOK, mix, part, tmp_path / "b", progress=False)
    b = train(digit_model(), TOK, mix, cfg, tmp_path / "b", resume=True, progress=False)
    assert b.loss == pytest.approx(a.loss, rel=1e-5)
