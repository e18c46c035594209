"""Large CPU buffers backed by huge pages where the system allows it.

A tensor of many megabytes is fresh memory from the system, and the first write to each
4 KiB page of it is a page fault: zeroing a new engine cache ran at about 3 GB/s, so
growing it to a few hundred megabytes stalled decoding for a good fraction of a second,
several times a run. Asking the kernel for transparent huge pages (2 MiB) before the
first write makes such faults 512 times fewer: ``benchmarks/memory.py`` measures both.
Where the kernel offers none (``/sys/kernel/mm/transparent_hugepage/enabled`` set to
``never``, or not Linux), the buffers are ordinary ones.
"""

from __future__ import annotations

import ctypes
import sys

import torch

HUGE_PAGE = 2 << 20
MIN_BYTES = 2 * HUGE_PAGE  # smaller buffers keep ordinary pages
_MADV_HUGEPAGE = 14  # linux/mman.h

_madvise = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(None, use_errno=True)
        _madvise = _libc.madvise
        _madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        _madvise.restype = ctypes.c_int
    except (OSError, AttributeError):  # pragma: no cover - a libc without madvise
        _madvise = None


def advise_huge(t: torch.Tensor) -> bool:
    """Ask for huge pages behind the whole 2 MiB-aligned part of ``t``'s memory; call it
    before anything writes there. Whether the kernel was asked (it may still decline)."""
    nbytes = t.numel() * t.element_size()
    if _madvise is None or t.device.type != "cpu" or nbytes < MIN_BYTES:
        return False
    ptr = t.data_ptr()
    start = -(-ptr // HUGE_PAGE) * HUGE_PAGE
    end = (ptr + nbytes) // HUGE_PAGE * HUGE_PAGE
    return end > start and _madvise(start, end - start, _MADV_HUGEPAGE) == 0


def empty(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device | str = "cpu"
          ) -> torch.Tensor:
    """``torch.empty``, on huge pages where the system offers them."""
    t = torch.empty(shape, dtype=dtype, device=device)
    advise_huge(t)
    return t


def zeros(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device | str = "cpu"
          ) -> torch.Tensor:
    """``torch.zeros``, on huge pages where the system offers them."""
    return empty(shape, dtype, device).zero_()
