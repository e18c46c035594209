from pathlib import Path

import pytest
import torch

from ponder.lm import memory


def _thp_offered() -> bool:
    try:
        setting = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return False
    return "[never]" not in setting


def test_zeros_and_empty_give_the_asked_shape_and_type():
    z = memory.zeros((3, 5 * memory.HUGE_PAGE // 4), torch.float32)
    assert z.shape == (3, 5 * memory.HUGE_PAGE // 4) and z.dtype == torch.float32
    assert not z.any()  # zeroed, huge pages or not
    e = memory.empty((2, 7), torch.bfloat16)
    assert e.shape == (2, 7) and e.dtype == torch.bfloat16


def test_small_buffers_keep_ordinary_pages():
    assert not memory.advise_huge(torch.empty(memory.MIN_BYTES // 4 - 1))


@pytest.mark.skipif(not _thp_offered() or memory._madvise is None,
                    reason="the kernel offers no transparent huge pages here")
def test_large_buffers_ask_for_huge_pages():
    assert memory.advise_huge(torch.empty(4 * memory.HUGE_PAGE // 4 + 3))
