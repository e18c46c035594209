"""What fresh buffers cost: ordinary 4 KiB pages (``torch.zeros``) against transparent
huge pages (the buffer's 2 MiB-aligned part advised ``MADV_HUGEPAGE`` before it is
zeroed), the way the engine allocates its key/value cache. The engine keeps ordinary
pages: on the machine the bundled model was measured on, huge pages made its cache's
growth slower (``reports/memory.json``).

    python benchmarks/memory.py [--repeats 7] [--json reports/memory.json]

Two measurements, the kinds taking turns within each repeat so that load from other
processes hits them alike; medians are reported with their ratio:

- ``growth``: in a fresh process each, the engine cache of the bundled model's shape
  (5 layers, 4 heads of 32) growing from 9 to 257 rows and 256 to 512 columns, each new
  buffer zeroed and the old one copied into it, as ``RowLayout._ensure`` does: the first
  huge pages of a process may cost more than ordinary ones (the kernel assembles them),
  so this is the number that says what the engine gains;
- ``reuse``: one buffer of ``--mb`` megabytes allocated, zeroed and freed again and
  again in one process: where huge pages pay (the engine's prefill arena already keeps
  its memory between admissions, so it does not allocate this way).

The kernel's setting (``/sys/kernel/mm/transparent_hugepage/enabled``) is recorded: set
to ``never`` the two kinds are the same.
"""

from __future__ import annotations

import argparse
import ctypes
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from ponder.eval.report import atomic_write_json

GROWTH = [(r, c) for r in (9, 17, 41, 89, 181, 257) for c in (256, 512)]


def thp_setting() -> str:
    try:
        return Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text().strip()
    except OSError:
        return "unavailable"


HUGE_PAGE = 2 << 20
MADV_HUGEPAGE = 14  # linux/mman.h


def huge_zeros(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """``torch.zeros`` with huge pages asked for behind the buffer before the zeroing
    writes to it (Linux; elsewhere, or where the kernel declines, ordinary pages)."""
    t = torch.empty(shape, dtype=dtype)
    ptr, nbytes = t.data_ptr(), t.numel() * t.element_size()
    start, end = -(-ptr // HUGE_PAGE) * HUGE_PAGE, (ptr + nbytes) // HUGE_PAGE * HUGE_PAGE
    if end > start and sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        libc.madvise(start, end - start, MADV_HUGEPAGE)
    return t.zero_()


def maker(kind: str):
    if kind == "huge":
        return huge_zeros
    return lambda shape, dtype: torch.zeros(shape, dtype=dtype)


def growth_seconds(kind: str) -> float:
    """Seconds for the engine-shaped growth sequence with buffers of ``kind``."""
    make = maker(kind)
    t0 = time.perf_counter()
    old = None
    for rows, cols in GROWTH:
        new = [make((2, rows, 4, cols, 32), torch.float32) for _ in range(5)]
        for a, b in zip(new, old or [], strict=False):
            r, c = min(a.shape[1], b.shape[1]), min(a.shape[3], b.shape[3])
            a[:, :r, :, :c] = b[:, :r, :, :c]
        old = new
    return time.perf_counter() - t0


def fresh_growth_seconds(kind: str) -> float:
    out = subprocess.run([sys.executable, __file__, "--child", kind], check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def reuse_ms_per_mb(kind: str, mb: int) -> float:
    make = maker(kind)
    t0 = time.perf_counter()
    x = make((mb * 2**20 // 4,), torch.float32)
    dt = time.perf_counter() - t0
    del x
    return 1000 * dt / mb


def medians(runs: dict[str, list[float]]) -> dict:
    med = {k: statistics.median(v) for k, v in runs.items()}
    return {"median": med, "runs": runs, "speedup": med["ordinary"] / med["huge"]}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=256, help="buffer size of the reuse test")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--child", choices=["ordinary", "huge"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.child:
        print(growth_seconds(args.child))
        return {}
    kinds = ("ordinary", "huge")
    growth: dict[str, list[float]] = {k: [] for k in kinds}
    reuse: dict[str, list[float]] = {k: [] for k in kinds}
    for k in kinds:
        reuse_ms_per_mb(k, args.mb)  # warm-up
    for rep in range(args.repeats):
        for k in kinds:
            growth[k].append(fresh_growth_seconds(k))
            reuse[k].append(reuse_ms_per_mb(k, args.mb))
        print(f"repeat {rep + 1}: growth " + ", ".join(
            f"{k} {growth[k][-1]:.2f} s" for k in kinds) + "; reuse " + ", ".join(
            f"{k} {reuse[k][-1]:.3f} ms/MB" for k in kinds), flush=True)
    out = {"command": shlex.join(["python", "benchmarks/memory.py", *sys.argv[1:]]),
           "transparent_hugepage": thp_setting(), "torch": torch.__version__,
           "growth_seconds": medians(growth), "reuse_ms_per_mb": medians(reuse) | {
               "mb": args.mb}}
    print(f"growth: {out['growth_seconds']['speedup']:.2f}x, reuse: "
          f"{out['reuse_ms_per_mb']['speedup']:.2f}x faster on huge pages")
    if args.json:
        atomic_write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
