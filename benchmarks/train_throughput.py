"""Training throughput of each model preset on this CPU: fp32 against bf16 autocast, with
one thread and with two.

    python benchmarks/train_throughput.py [--presets tiny,small,base,large]
        [--precisions fp32,bf16] [--threads 1,2] [--batch-size 16] [--steps 6]
        [--out reports/train_throughput.json]

For each preset, one freshly initialised copy of the model per (precision, threads)
variant trains on the same batches of the four built-in task families (real SFT
examples, batched as the trainer batches them, so sequence lengths are realistic). The
variants take turns step by step, so a burst of load from other processes hits them
alike. Reported: the median tokens/s over the timed steps (after one warm-up step) and
the mean loss over them, so that a faster variant is preferred only when its loss is
comparable. Results go to a JSON file and a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from ponder.lm.model import PRESETS
from ponder.lm.tokenizer import CharTokenizer
from ponder.tasks import get_task
from ponder.train.data import Batch, Batcher, TaskMixture
from ponder.train.loop import TrainConfig, make_optimizer, train_step
from ponder.train.sft import DEFAULT_TASKS, build_model


def measure(preset: str, variants: list[tuple[str, int]], batches: list[Batch],
            tok: CharTokenizer) -> list[dict]:
    runs = {}
    for variant in variants:
        model = build_model(preset, tok, seed=0)
        runs[variant] = (model, make_optimizer(model, TrainConfig(lr=1e-3)), [], [])
    for i, batch in enumerate(batches):
        for (precision, threads), (model, opt, rates, losses) in runs.items():
            torch.set_num_threads(threads)
            t = time.perf_counter()
            loss = train_step(model, opt, batch, precision, grad_clip=1.0)
            if i > 0:  # the first step pays for allocations and kernel selection
                rates.append(batch.n_tokens / (time.perf_counter() - t))
                losses.append(loss)
    return [{"preset": preset, "precision": precision, "threads": threads,
             "params": model.num_params(),
             "tokens_per_s": round(statistics.median(rates), 1),
             "tokens_per_s_all": [round(r, 1) for r in rates],
             "mean_loss": round(sum(losses) / len(losses), 4)}
            for (precision, threads), (model, _, rates, losses) in runs.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", default=",".join(PRESETS))
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=6, help="timed steps (plus one warm-up)")
    ap.add_argument("--out", default="reports/train_throughput.json")
    args = ap.parse_args()

    tok = CharTokenizer()
    mix = TaskMixture([get_task(t) for t in DEFAULT_TASKS], seed=0)
    batcher = Batcher(mix, tok, args.batch_size, 1024, group=8)
    batches = [batcher(i * args.batch_size) for i in range(args.steps + 1)]
    variants = [(p, int(t)) for t in args.threads.split(",") for p in args.precisions.split(",")]
    results = []
    for preset in args.presets.split(","):
        for result in measure(preset, variants, batches, tok):
            results.append(result)
            print(json.dumps(result), flush=True)

    out = {"command": "python benchmarks/train_throughput.py", "args": vars(args),
           "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
           "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    names = [f"{p} {t}t" for p, t in variants]
    table = Table("preset", "params", *(f"{n} tok/s" for n in names),
                  *(f"{n} loss" for n in names),
                  title=f"training throughput (batch {args.batch_size}, median of {args.steps})")
    for preset in args.presets.split(","):
        rows = [r for r in results if r["preset"] == preset]
        table.add_row(preset, f"{rows[0]['params']:,}",
                      *(f"{r['tokens_per_s']:,.0f}" for r in rows),
                      *(f"{r['mean_loss']:.3f}" for r in rows))
    Console().print(table)


if __name__ == "__main__":
    main()
