"""Training throughput on this CPU, side by side: threads, packed batch size,
torch.compile, packed against padded batches (and, with --mode presets, every model
preset in fp32 against bf16 autocast).

    python benchmarks/train_throughput.py [--preset small] [--repeats 2]
        [--out reports/train_throughput.json]
    python benchmarks/train_throughput.py --mode presets [--presets tiny,small,base,large]
        [--precisions fp32,bf16] [--threads 1,2]

Variants mode: one freshly initialised copy of the model per variant, each fed real SFT
examples of the four built-in task families batched as the trainer batches them
(packed rows of the model's context, or padded length-grouped examples). The variants
take turns step by step (interleaved repeats), so a burst of load from other processes
hits them alike; after one untimed warm-up step each (allocations, kernel choice, the
compilation of the compiled variant) the median tokens/s over ``--repeats`` steps is
reported, tokens being real (non-padding) ones, with ratios against the baseline
(packed, 16 rows, 2 threads, eager). Results go to a JSON file (with the exact command
line) and a table.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from ponder.eval.report import cpu_name
from ponder.lm.model import PRESETS
from ponder.lm.tokenizer import CharTokenizer
from ponder.tasks import get_task
from ponder.train.core import apply_step, bf16_matmul_speedup, make_optimizer
from ponder.train.data import Batch, Batcher, TaskMixture
from ponder.train.flops import matmul_peak_flops
from ponder.train.loop import batch_loss
from ponder.train.packing import Packer
from ponder.train.policy import decay_groups
from ponder.train.sft import DEFAULT_TASKS, build_model

CONTEXT = 1024


def optimizer(model: torch.nn.Module) -> torch.optim.Optimizer:
    return make_optimizer(decay_groups(model, 0.1), 1e-3)


def train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, batch: Batch,
               precision: str) -> float:
    """One optimizer step of the training loop on ``batch``; returns the loss."""
    loss = batch_loss(model, batch, precision)
    loss.backward()
    apply_step(model.parameters(), opt, 1.0)
    return loss.item()


@dataclass(frozen=True)
class Variant:
    name: str
    rows: int  # packed rows per step, or padded examples per step when pack is False
    threads: int = 2
    compile: bool = False
    pack: bool = True


BASELINE = Variant("packed 16 rows, 2 threads", 16)
VARIANTS = [
    BASELINE,
    Variant("packed 16 rows, 1 thread", 16, threads=1),
    Variant("packed 4 rows", 4),
    Variant("packed 8 rows", 8),
    Variant("packed 32 rows", 32),
    Variant("packed 16 rows, torch.compile", 16, compile=True),
    # 56 examples of ~300 tokens: about the real tokens of 16 packed rows
    Variant("padded 56 examples (length-grouped)", 56, pack=False),
]


def batches_for(v: Variant, mix: TaskMixture, tok: CharTokenizer, n: int) -> list[Batch]:
    if v.pack:
        packer, out, pos = Packer(mix, tok, v.rows, CONTEXT), [], (0, 0)
        for _ in range(n):
            batch, *pos = packer(*pos)
            out.append(batch)
        return out
    batcher = Batcher(mix, tok, v.rows, CONTEXT, group=8)
    return [batcher(i * v.rows) for i in range(n)]


def compare_variants(preset: str, repeats: int, tok: CharTokenizer) -> list[dict]:
    mix = TaskMixture([get_task(t) for t in DEFAULT_TASKS], seed=0)
    runs, errors = {}, {}
    for v in VARIANTS:
        model = build_model(preset, tok, seed=0, max_seq_len=CONTEXT)
        step_model = model
        if v.compile:
            try:
                step_model = torch.compile(model)
            except Exception as e:  # noqa: BLE001 - reported, not hidden
                errors[v] = f"{type(e).__name__}: {e}"
                continue
        runs[v] = {"model": step_model, "opt": optimizer(model),
                   "batches": batches_for(v, mix, tok, repeats + 1), "rates": [],
                   "pad": [], "first_step_s": None}
    for i in range(repeats + 1):
        for v, r in list(runs.items()):
            torch.set_num_threads(v.threads)
            batch = r["batches"][i]
            t = time.perf_counter()
            try:
                train_step(r["model"], r["opt"], batch, "fp32")
            except Exception as e:  # noqa: BLE001 - e.g. torch.compile without a toolchain
                errors[v] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
                del runs[v]
                continue
            dt = time.perf_counter() - t
            if i == 0:  # allocations, kernel choice, compilation
                r["first_step_s"] = round(dt, 2)
            else:
                r["rates"].append(batch.n_tokens / dt)
                r["pad"].append(batch.pad_share)
            print(f"  step {i} {v.name}: {batch.n_tokens / dt:,.0f} tok/s", flush=True)
    base = statistics.median(runs[BASELINE]["rates"]) if BASELINE in runs else None
    out = []
    for v in VARIANTS:
        row = {"variant": v.name, "preset": preset, "rows": v.rows, "threads": v.threads,
               "compile": v.compile, "pack": v.pack}
        if v in errors:
            out.append({**row, "error": errors[v]})
            continue
        r = runs[v]
        rate = statistics.median(r["rates"])
        out.append({**row, "tokens_per_s": round(rate, 1),
                    "tokens_per_s_all": [round(x, 1) for x in r["rates"]],
                    "ratio_to_baseline": round(rate / base, 3) if base else None,
                    "pad_share": round(statistics.mean(r["pad"]), 4),
                    "first_step_s": r["first_step_s"]})
    return out


def compare_presets(preset: str, variants: list[tuple[str, int]], batches: list[Batch],
                    tok: CharTokenizer) -> list[dict]:
    runs = {}
    for variant in variants:
        model = build_model(preset, tok, seed=0)
        runs[variant] = (model, optimizer(model), [], [])
    for i, batch in enumerate(batches):
        for (precision, threads), (model, opt, rates, losses) in runs.items():
            torch.set_num_threads(threads)
            t = time.perf_counter()
            loss = train_step(model, opt, batch, precision)
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
    ap.add_argument("--mode", choices=("variants", "presets"), default="variants")
    ap.add_argument("--preset", default="small", help="variants mode: the model size")
    ap.add_argument("--repeats", type=int, default=2, help="timed steps per variant")
    ap.add_argument("--presets", default=",".join(PRESETS), help="presets mode")
    ap.add_argument("--precisions", default="fp32,bf16", help="presets mode")
    ap.add_argument("--threads", default="1,2", help="presets mode")
    ap.add_argument("--batch-size", type=int, default=4, help="presets mode: packed rows")
    ap.add_argument("--out", default="reports/train_throughput.json")
    args = ap.parse_args()

    tok = CharTokenizer()
    threads = torch.get_num_threads()
    out = {"command": shlex.join(["python", *sys.argv]), "args": vars(args),
           "cpu": cpu_name(), "cores": threads, "bf16_matmul_speedup": bf16_matmul_speedup(),
           "torch": torch.__version__,
           "matmul_peak_flops": {t: round(matmul_peak_flops(t)) for t in (1, 2)},
           "matmul_peak_flops_bf16": {t: round(matmul_peak_flops(t, dtype=torch.bfloat16))
                                      for t in (1, 2)}}
    if args.mode == "variants":
        out["results"] = compare_variants(args.preset, args.repeats, tok)
        table = Table("variant", "tok/s", "x baseline", "pad share", "first step s",
                      title=f"training throughput, {args.preset} preset "
                            f"(median of {args.repeats}, interleaved)")
        for r in out["results"]:
            if "error" in r:
                table.add_row(r["variant"], "failed: " + r["error"][:60], "", "", "")
            else:
                table.add_row(r["variant"], f"{r['tokens_per_s']:,.0f}",
                              f"{r['ratio_to_baseline']:.2f}", f"{r['pad_share']:.3f}",
                              f"{r['first_step_s']:.1f}")
    else:
        mix = TaskMixture([get_task(t) for t in DEFAULT_TASKS], seed=0)
        packer, batches, pos = Packer(mix, tok, args.batch_size, CONTEXT), [], (0, 0)
        for _ in range(args.repeats + 1):
            batch, *pos = packer(*pos)
            batches.append(batch)
        variants = [(p, int(t)) for t in args.threads.split(",")
                    for p in args.precisions.split(",")]
        out["results"] = [r for preset in args.presets.split(",")
                          for r in compare_presets(preset, variants, batches, tok)]
        names = [f"{p} {t}t" for p, t in variants]
        table = Table("preset", "params", *(f"{n} tok/s" for n in names),
                      title=f"training throughput ({args.batch_size} packed rows, "
                            f"median of {args.repeats})")
        for preset in args.presets.split(","):
            rows = [r for r in out["results"] if r["preset"] == preset]
            table.add_row(preset, f"{rows[0]['params']:,}",
                          *(f"{r['tokens_per_s']:,.0f}" for r in rows))
    torch.set_num_threads(threads)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    Console().print(table)


if __name__ == "__main__":
    main()
