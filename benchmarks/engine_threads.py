"""How many threads the engine should decode with: one, the caller's, or its own choice.

The engine's worker is not the main thread. Once the main thread has run parallel torch
work (as any real program has: loading a model, a training step), OpenMP threads of
other threads wake slowly, and a small model's decoding step is dozens of tiny
operations, each a parallel region. This script decodes ragged batches (prompts of
10-39 tokens, 40-99 new tokens, sampled) through ``Sampler`` with the caller at
``--threads`` threads, the engine forced to one thread, forced to the caller's, and left
to choose (``ponder.lm.threads``), for each preset and row count; the arms
alternate over ``--repeats`` and the medians are reported, with each arm's speed
relative to one thread.

It also times parallel work on the main thread (a teacher-forced forward of the model
over 16 x 64 tokens at ``--threads`` threads) with no engine worker alive, beside a
worker kept alive idle after it sampled with the caller's threads (``IDLE_EXIT_S``
1e6 s and ``PARALLEL_FLOPS`` 0, as the worker was before both fixes), and after such a
worker ended by itself (``idle_worker``).

With ``--hf DIR`` (a transformers model directory) the same three arms run through the
batcher that serves transformers models to concurrent callers (``BatchedLM``), whose
worker follows the same rule with the model's FLOPs per token.

    python benchmarks/engine_threads.py --json reports/engine_threads.json
    python benchmarks/engine_threads.py --hf runs/bundled_hf --json reports/engine_threads.json
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ponder.eval.report import atomic_write_json
from ponder.lm import threads
from ponder.lm.model import Transformer, preset
from ponder.lm.sampler import Sampler
from ponder.lm.tokenizer import CharTokenizer

ARMS = {"one_thread": float("inf"), "caller_threads": 0.0, "auto": threads.PARALLEL_FLOPS}


def decode(sampler: Sampler, rows: int, seed: int) -> float:
    """Seconds to sample a ragged batch of ``rows`` rows."""
    tok = sampler.tokenizer
    ids = [[tok.bos_id] + [5 + (i * 3 + j) % 50 for j in range(10 + i % 30)]
           for i in range(rows)]
    t0 = time.perf_counter()
    sampler.generate(ids, max_tokens=[40 + (7 * i) % 60 for i in range(rows)],
                     temperature=1.0, seeds=range(seed, seed + rows), ignore_eos=True)
    return time.perf_counter() - t0


def hf_arms(path: str, rows: int, repeats: int) -> dict[str, Any]:
    """The three arms through ``BatchedLM`` over the transformers model at ``path``."""
    from ponder.lm.batching import BatchedLM
    from ponder.lm.registry import load_lm

    lm = BatchedLM(load_lm(f"hf:{path}"), window_s=0.0)
    prompts = [f"What is {i} + {2 * i + 3}?" for i in range(rows)]
    lm.generate(prompts[:2], max_tokens=4, temperature=0.0)  # warm-up
    times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    auto = threads.PARALLEL_FLOPS
    for _ in range(repeats):
        for arm, flops in ARMS.items():
            threads.PARALLEL_FLOPS = flops
            t0 = time.perf_counter()
            lm.generate(prompts, max_tokens=48, temperature=0.0)
            times[arm].append(time.perf_counter() - t0)
    threads.PARALLEL_FLOPS = auto
    lm.close()
    med = {arm: statistics.median(t) for arm, t in times.items()}
    return {"model": path, "rows": rows, "median_s": {k: round(v, 4) for k, v in med.items()},
            "speed_vs_one_thread": {k: round(med["one_thread"] / v, 3) for k, v in med.items()}}


def main_thread_work(model: Transformer, repeats: int = 20) -> float:
    """Seconds for ``repeats`` teacher-forced forwards on the calling thread."""
    x = torch.randint(3, 90, (16, 64), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model(x)
        t0 = time.perf_counter()
        for _ in range(repeats):
            model(x)
    return time.perf_counter() - t0


def idle_worker(model: Transformer, tok: CharTokenizer, repeats: int) -> dict[str, Any]:
    """Main-thread work with no worker, beside an idle worker kept alive, and after a
    worker that ended by itself (medians over ``repeats``)."""
    arms: dict[str, list[float]] = {"no_worker": [], "idle_worker": [], "worker_ended": []}
    idle, parallel = threads.IDLE_EXIT_S, threads.PARALLEL_FLOPS
    threads.PARALLEL_FLOPS = 0.0  # the worker samples with the caller's threads
    for rep in range(repeats):
        sampler = Sampler(model, tok)
        arms["no_worker"].append(main_thread_work(model))
        threads.IDLE_EXIT_S = 1e6  # effectively never
        decode(sampler, 16, rep)
        arms["idle_worker"].append(main_thread_work(model))
        sampler.engine.close()
        threads.IDLE_EXIT_S = idle
        decode(sampler, 16, rep)
        time.sleep(4 * idle)  # the worker ends by itself
        assert sampler.engine._thread is None
        arms["worker_ended"].append(main_thread_work(model))
    threads.PARALLEL_FLOPS = parallel
    med = {k: statistics.median(v) for k, v in arms.items()}
    return {"median_s": {k: round(v, 4) for k, v in med.items()},
            "slowdown_vs_no_worker": {k: round(v / med["no_worker"], 3) for k, v in med.items()}}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", default="small,large")
    ap.add_argument("--rows", default="16,64")
    ap.add_argument("--threads", type=int, default=2, help="the caller's torch threads")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--hf", help="also a transformers model directory, through the batcher")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    a = torch.randn(512, 512)
    for _ in range(10):  # parallel work on the main thread, as a real program does
        a @ a
    tok = CharTokenizer()
    results: dict[str, Any] = {}
    for name in args.presets.split(","):
        torch.manual_seed(0)
        model = Transformer(preset(name, vocab_size=tok.vocab_size)).eval()
        results[f"{name}_main_thread_work"] = idle_worker(model, tok, args.repeats)
        print(f"{name}: main-thread work beside an idle worker / after it ended, against "
              "none: " + " / ".join(f"{v:.2f}x" for k, v in results[
                  f"{name}_main_thread_work"]["slowdown_vs_no_worker"].items()
                  if k != "no_worker"), flush=True)
        sampler = Sampler(model, tok)
        for rows in (int(r) for r in args.rows.split(",")):
            decode(sampler, rows, 0)  # warm-up
            times: dict[str, list[float]] = {arm: [] for arm in ARMS}
            for rep in range(args.repeats):
                for arm, flops in ARMS.items():
                    threads.PARALLEL_FLOPS = flops
                    times[arm].append(decode(sampler, rows, rep))
            threads.PARALLEL_FLOPS = ARMS["auto"]
            med = {arm: statistics.median(t) for arm, t in times.items()}
            key = f"{name}_{rows}_rows"
            results[key] = {"params": model.num_params(), "rows": rows,
                            "median_s": {k: round(v, 4) for k, v in med.items()},
                            "speed_vs_one_thread": {k: round(med["one_thread"] / v, 3)
                                                    for k, v in med.items()}}
            print(f"{key}: " + ", ".join(f"{k} {v:.3f}s ({med['one_thread'] / v:.2f}x)"
                                         for k, v in med.items()), flush=True)
    if args.hf:
        r = results["hf_batcher"] = hf_arms(args.hf, 16, args.repeats)
        print("hf batcher, 16 rows: " + ", ".join(
            f"{k} {v:.3f}s ({r['speed_vs_one_thread'][k]:.2f}x)"
            for k, v in r["median_s"].items()), flush=True)
    out = {"command": shlex.join(["python", "benchmarks/engine_threads.py",
                                  *(argv if argv is not None else sys.argv[1:])]),
           "threads": args.threads, "parallel_flops": ARMS["auto"],
           "torch": torch.__version__, "results": results}
    if args.json:
        atomic_write_json(args.json, out)
        print(f"wrote {args.json}")
    return out


if __name__ == "__main__":
    main()
