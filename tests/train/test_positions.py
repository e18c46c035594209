import pytest
import torch

from ponder.errors import ConfigError
from ponder.train.positions import random_positions


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
