"""What a fresh buffer costs: zeroing N megabytes of new memory on ordinary 4 KiB pages
(``torch.zeros``) against transparent huge pages (``ponder.lm.memory.zeros``), the way
the engine allocates its key/value cache when it grows.

    python benchmarks/memory.py [--mb 64,256] [--repeats 9] [--json reports/memory.json]

The two take turns within each repeat, so load from other processes hits them alike;
reported are the medians of milliseconds per megabyte and their ratio, with the kernel's
huge-page setting (``/sys/kernel/mm/transparent_hugepage/enabled``).
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

from ponder.eval.report import atomic_write_json
from ponder.lm import memory


def thp_setting() -> str:
    try:
        return Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text().strip()
    except OSError:
        return "unavailable"


def ms_per_mb(make, mb: int) -> float:
    t0 = time.perf_counter()
    x = make((mb * 2**20 // 4,), torch.float32)
    dt = time.perf_counter() - t0
    del x
    return 1000 * dt / mb


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", default="64,256", help="buffer sizes in megabytes")
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    makers = {"ordinary": lambda shape, dtype: torch.zeros(shape, dtype=dtype),
              "huge": memory.zeros}
    results = {}
    for mb in [int(x) for x in args.mb.split(",")]:
        runs: dict[str, list[float]] = {k: [] for k in makers}
        for make in makers.values():
            ms_per_mb(make, mb)  # warm-up: the first huge pages may need compaction
        for _ in range(args.repeats):
            for name, make in makers.items():
                runs[name].append(ms_per_mb(make, mb))
        med = {k: statistics.median(v) for k, v in runs.items()}
        results[f"{mb}MB"] = {"ms_per_mb": med, "runs": runs,
                              "speedup": med["ordinary"] / med["huge"]}
        print(f"{mb} MB: ordinary {med['ordinary']:.3f} ms/MB, huge pages "
              f"{med['huge']:.3f} ms/MB ({med['ordinary'] / med['huge']:.1f}x)", flush=True)
    out = {"command": shlex.join(["python", "benchmarks/memory.py", *sys.argv[1:]]),
           "transparent_hugepage": thp_setting(), "torch": torch.__version__,
           "results": results}
    if args.json:
        atomic_write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
