import pytest
import torch

from ponder.errors import ConfigError
from ponder.train.positions import random_positions


def test_span_one_is_the_ordinary_positions():
    assert random_positions(2, 5, 1.0).tolist() == [[0, 1, 2, 3, 4]] * 2


def test_rows_are_increasing_distinct_samples_of_the_stretched_range():
    g = torch.Generator().manual_seed(0)
    p = random_positions(64, 40, 2.5, g)
    assert p.shape == (64, 40) and p.dtype == torch.long
    assert bool((p[:, 1:] > p[:, :-1]).all())  # order kept, no repeats
    assert int(p.min()) >= 0 and int(p.max()) < 100
    # the range is used, not only its start: far positions and gaps over 1 occur
    assert int(p[:, -1].max()) >= 95 and bool((p[:, 1:] - p[:, :-1] > 1).any())
    assert not torch.equal(p[0], p[1])  # each row its own draw
    again = random_positions(64, 40, 2.5, torch.Generator().manual_seed(0))
    assert torch.equal(p, again)


def test_bad_span_is_refused():
    with pytest.raises(ConfigError, match="span"):
        random_positions(1, 4, 0.5)
