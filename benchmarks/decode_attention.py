"""Why batch-64 decoding is bounded by the KV cache on a CPU: the attention of one
decoding step over every layer's cache, timed three ways on the same data.

    python benchmarks/decode_attention.py [--preset small] [--batch 64] [--context 96]
        [--repeats 15] [--json reports/decode_attention.json]

- ``sdpa``: ``F.scaled_dot_product_attention`` with one query per row (what the sampler
  used before);
- ``bmm``: the sampler's decoding path (``ponder.lm.fused._bmm_attention``: two batched
  matmuls over fp32 cache views);
- ``bmm_bf16_cache``: the same, with the cache stored in bf16 and converted per step
  (half the bytes in memory, a conversion per read).

Each layer has its own cache, as in a real step, so the caches together exceed the CPU's
last-level cache when the batch is large. Reported: median milliseconds per step, the
bytes of K and V read per step, and the bandwidth that implies.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ponder.lm.fused import _bmm_attention
from ponder.lm.model import preset


def timed(fns: dict, repeats: int, inner: int = 5) -> dict[str, float]:
    """Median milliseconds per call of each function; the functions take turns within
    each repeat, so a burst of load from other processes hits them alike."""
    runs: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            for _ in range(inner):
                fn()
            runs[name].append((time.perf_counter() - t) / inner)
    return {name: round(statistics.median(r) * 1e3, 3) for name, r in runs.items()}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--context", type=int, default=96, help="cache slots in use (mean "
                    "context of the sampler benchmark: 32 prompt + 128 new tokens)")
    ap.add_argument("--slots", type=int, default=160, help="cache slots allocated")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = preset(args.preset, vocab_size=101)
    B, nh, hs, L = args.batch, cfg.n_head, cfg.head_dim, args.context
    torch.manual_seed(0)
    caches = [torch.randn(2, B, nh, args.slots, hs) for _ in range(cfg.n_layer)]
    caches16 = [c.to(torch.bfloat16) for c in caches]
    q = torch.randn(B, nh, hs)

    def sdpa():
        for kv in caches:
            k, v = kv.narrow(3, 0, L).unbind(0)
            F.scaled_dot_product_attention(q[:, :, None], k, v)

    def bmm():
        for kv in caches:
            k, v = kv.narrow(3, 0, L).unbind(0)
            _bmm_attention(q, k, v, None)

    def bmm_bf16():
        for kv in caches16:
            k, v = kv.narrow(3, 0, L).float().unbind(0)
            _bmm_attention(q, k, v, None)

    ms = timed({"sdpa": sdpa, "bmm": bmm, "bmm_bf16_cache": bmm_bf16}, args.repeats)
    kv_bytes = cfg.n_layer * 2 * B * nh * L * hs * 4
    result = {"preset": args.preset, "batch": B, "context": L, "layers": cfg.n_layer,
              "threads": args.threads, "ms_per_step": ms,
              "kv_mb_per_step": round(kv_bytes / 2**20, 1),
              "bmm_gb_per_s": round(kv_bytes / (ms["bmm"] / 1e3) / 1e9, 2),
              "sdpa_over_bmm": round(ms["sdpa"] / ms["bmm"], 2)}
    print(json.dumps(result, indent=2))
    if args.json:
        from ponder.eval.report import write_report

        write_report(args.json.stem, result, model=f"preset {args.preset} (random)",
                     split=None, title="Decode-step attention over the KV cache",
                     directory=args.json.parent)
    return result


if __name__ == "__main__":
    main()
