"""Throughput of the callers of the engine against the sampler's own batch-64 speed.

For each strategy, ``ponder scale``'s loop (``run_scale``) solves ``--problems`` held-out
problems with ``--concurrency`` of them in flight, and ``ponder eval``'s loop
(``evaluate_tasks``) answers ``--eval-n`` problems; each reports tokens generated per
second of wall time. The reference is the sampler decoding 64 rows of ``--new-tokens``
tokens (EOS ignored). Every repeat runs the reference and every caller back to back, so
load on a shared machine hits them alike; medians over ``--repeats`` are reported, with
each caller's ratio to the reference. ``--concurrency 1`` gives the one-problem-at-a-time
baseline.

A decoding step costs more the longer the rows it attends over, so by default
(``--new-tokens auto``) the reference decodes the benchmark's own prompts for as many
tokens as their teacher traces hold on average: the callers' sequences and the
reference's then have about the same length, and the ratio measures scheduling (rows
in flight, ragged lengths, admissions) rather than sequence length. A reference of a
fixed 128 tokens is measured too (``reference_128``), comparable with earlier reports.
The evaluation covers every level, whose completions are longer on average than the
scale problems', so it also gets a reference of its own mean completion length, run
right after it (``ratio_to_own_reference``), and one that decodes its own prompts for
its own completion lengths, 64 rows at a time in order of length
(``ratio_to_matched_reference``): the cost of a token grows with the row's length, so
a mix of short and long rows costs more a token than rows of the mean length.

Beam search and MCTS need a PRM; this benchmark gives them the task's own step checker
(each line scored 1 if the task accepts it, else 0), which runs no model, so the
numbers measure the policy's generation alone.

    python benchmarks/engine.py                          # the bundled reasoner
    python benchmarks/engine.py --json reports/engine_benchmark.json
    python benchmarks/engine.py --max-segments 4,1     # runs of rows vs one span, same run
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ponder.eval.accuracy import evaluate_tasks
from ponder.eval.scale import ScaleConfig, run_scale
from ponder.lm import layout
from ponder.lm.registry import load_lm, weights_digest
from ponder.lm.template import prompt_for, split_thinking
from ponder.tasks import get_task
from ponder.tasks.base import Problem, Task
from ponder.think import Scorers


class CheckerPRM:
    """The task's step checker as a PRM for the problems of this benchmark."""

    flops_per_token = 0.0

    def __init__(self, task: Task, problems: list[Problem], lm: Any):
        self.task = task
        self.by_prompt = {prompt_for(lm, p.prompt): p for p in problems}

    def score_steps(self, prompts: list[str], completions: list[str]) -> list[list[float]]:
        out = []
        for prompt, text in zip(prompts, completions, strict=True):
            problem = self.by_prompt.get(prompt)
            steps = [s for s in split_thinking(text)[0].split("\n") if s.strip()]
            if problem is None or not steps:
                out.append([0.0] * max(1, len(steps)))
                continue
            out.append([float(ok) for ok in self.task.check_steps(problem, steps)])
        return out


def reference(lm: Any, problems: list[Problem], new_tokens: int) -> float:
    """Tokens/s of the sampler alone: 64 rows, exactly ``new_tokens`` each."""
    ids = [lm.tokenizer.encode(prompt_for(lm, p.prompt), bos=True) for p in problems[:64]]
    t0 = time.perf_counter()
    lm.sampler.generate(ids, max_tokens=new_tokens, temperature=0.8, seeds=range(64),
                        ignore_eos=True)
    return 64 * new_tokens / (time.perf_counter() - t0)


def scale_speed(lm: Any, task: Task, strategy: str, args: argparse.Namespace) -> dict[str, Any]:
    cfg = ScaleConfig(strategies=[strategy], budgets=[args.budget], n_problems=args.problems,
                      difficulty=args.difficulty, seed=args.seed, max_tokens=args.max_tokens,
                      concurrency=args.concurrency)
    problems = task.problems("test", args.problems, seed=args.seed, difficulty=args.difficulty)
    scorers = Scorers(prm=CheckerPRM(task, problems, lm))
    before = engine_counters(lm)
    t0 = time.perf_counter()
    records = run_scale(lm, task, cfg, scorers)
    wall = time.perf_counter() - t0
    tokens = sum(r["generated_tokens"] for r in records)
    out = {"tokens_per_s": tokens / wall, "tokens": tokens, "seconds": wall,
           "accuracy": sum(r["correct"] for r in records) / len(records),
           **engine_use(lm, before)}
    if strategy == "greedy":  # one completion a problem: its rows can be replayed
        by_id = {p.id: p for p in problems}
        rows = [(prompt_for(lm, by_id[r["problem"]].prompt), r["generated_tokens"])
                for r in records if r.get("problem") in by_id and r["generated_tokens"] > 0]
        if len(rows) != len(records):
            raise SystemExit("scale records do not name their problems; cannot replay them")
        matched = matched_reference(lm, [p for p, _ in rows], [n for _, n in rows])
        out |= {"matched_reference_tokens_per_s": matched,
                "ratio_to_matched_reference": tokens / wall / matched}
    return out


def engine_counters(lm: Any) -> dict[str, int]:
    eng = lm.sampler.engine
    return {k: getattr(eng, k) for k in ("steps", "row_steps", "kv_read", "kv_live")}


def engine_use(lm: Any, before: dict[str, int]) -> dict[str, float]:
    """Rows decoded per step on average, and the share of the cache columns read by
    attention that held the rows' own tokens, since ``before``."""
    d = {k: v - before[k] for k, v in engine_counters(lm).items()}
    return {"mean_rows": d["row_steps"] / max(d["steps"], 1),
            "kv_read_share": d["kv_live"] / max(d["kv_read"], 1)}


def matched_reference(lm: Any, prompts: list[str], lengths: list[int]) -> float:
    """Tokens/s of the sampler alone decoding exactly the given rows (each prompt for its
    own number of tokens, EOS ignored, greedy as the callers replayed are), 64 rows at a
    time in order of length, so that every batch is full and its rows about equally
    long: the best a batch-64 decoder does on the same sequences."""
    order = sorted(range(len(prompts)), key=lambda i: lengths[i])
    t0 = time.perf_counter()
    for k in range(0, len(order), 64):
        rows = order[k: k + 64]
        ids = [lm.tokenizer.encode(prompts[i], bos=True) for i in rows]
        lm.sampler.generate(ids, max_tokens=[lengths[i] for i in rows], temperature=0.0,
                            ignore_eos=True)
    return sum(lengths) / (time.perf_counter() - t0)


def eval_speed(lm: Any, task: Task, args: argparse.Namespace) -> dict[str, Any]:
    """``ponder eval`` 's loop over every level of the task, then two references of
    the sampler's batch-64 decoding run right after it: rows of the evaluation's mean
    completion length (the levels above the scale problems' write longer traces, and a
    longer row costs more a token), and the evaluation's own prompts, each decoded for
    as many tokens as its completion held, 64 at a time in order of length
    (``matched_reference``): a step's cost grows with its rows' length, so a mix of
    short and long rows costs more a token than rows of the mean length."""
    before = engine_counters(lm)
    t0 = time.perf_counter()
    report = evaluate_tasks(lm, [task], args.eval_n, seed=args.seed, keep_records=True)[task.name]
    wall = time.perf_counter() - t0
    records = report.records or []
    tokens = sum(r["tokens"] for r in records)
    mean_tokens = round(tokens / max(len(records), 1))
    problems = task.problems("test", 64, seed=args.seed)
    ref = reference(lm, problems, max(mean_tokens, 1))
    by_id = {p.id: p for p in task.problems("test", args.eval_n, seed=args.seed)}
    rows = [(prompt_for(lm, by_id[r["id"]].prompt), r["tokens"]) for r in records
            if r["id"] in by_id and r["tokens"] > 0]
    matched = matched_reference(lm, [p for p, _ in rows], [n for _, n in rows])
    return {"tokens_per_s": tokens / wall, "tokens": tokens, "seconds": wall,
            "accuracy": report.accuracy, "mean_tokens": mean_tokens,
            "reference_tokens_per_s": ref, "ratio_to_own_reference": tokens / wall / ref,
            "matched_reference_tokens_per_s": matched,
            "ratio_to_matched_reference": tokens / wall / matched,
            **engine_use(lm, before)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="default: the bundled reasoner")
    ap.add_argument("--task", default="arith")
    ap.add_argument("--difficulty", default="3,4,5")
    ap.add_argument("--strategies", default="greedy,vote,best_of_n,beam,mcts")
    ap.add_argument("--problems", type=int, default=256)
    ap.add_argument("--budget", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=320)
    ap.add_argument("--concurrency", type=int, default=128)
    ap.add_argument("--eval-n", type=int, default=500)
    ap.add_argument("--new-tokens", default="auto",
                    help="tokens per reference row: a number, or auto (the mean teacher "
                    "trace of the benchmark's problems)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--kv-dtype", default="float32", choices=["float32", "bfloat16"],
                    help="the sampler's key/value cache type")
    ap.add_argument("--max-segments", default="4",
                    help="runs of rows a decoding step may split into (the engine's "
                    "MAX_SEGMENTS), comma-separated to compare in the same run: the first "
                    "is reported plainly, the others as '<caller>@<n> runs'; 1 is every "
                    "row attending over the oldest row's span")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    args.difficulty = [int(d) for d in args.difficulty.split(",")]
    args.max_segments = [int(x) for x in str(args.max_segments).split(",")]
    torch.set_num_threads(args.threads)
    lm = load_lm(args.model, kv_dtype=args.kv_dtype)
    if not hasattr(lm, "sampler"):
        sys.exit("this benchmark measures the built-in model's engine; give a ponder checkpoint")
    task = get_task(args.task)
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    problems = task.problems("test", max(64, args.problems), seed=args.seed,
                             difficulty=args.difficulty)
    if args.new_tokens == "auto":
        args.new_tokens = round(statistics.mean(
            len(lm.tokenizer.encode(task.teacher_trace(p))) for p in problems))
    args.new_tokens = int(args.new_tokens)
    runs: dict[str, list[dict[str, Any]]] = {"reference": [], "reference_128": []}
    reference(lm, problems, 8)  # warm-up
    for rep in range(args.repeats):
        ref = reference(lm, problems, args.new_tokens)
        runs["reference"].append({"tokens_per_s": ref})
        runs["reference_128"].append({"tokens_per_s": reference(lm, problems, 128)})
        print(f"repeat {rep + 1}: sampler batch 64 {ref:,.0f} tok/s "
              f"({args.new_tokens} tokens a row)", flush=True)
        for k, segments in enumerate(args.max_segments):
            layout.MAX_SEGMENTS = segments
            tag = "" if k == 0 else f"@{segments} runs"
            for s in strategies:
                r = scale_speed(lm, task, s, args)
                runs.setdefault(f"scale:{s}{tag}", []).append(r)
                speed = r["tokens_per_s"]
                own = (f"; {r['ratio_to_matched_reference']:.2f}x of its own rows"
                       if "ratio_to_matched_reference" in r else "")
                print(f"  scale {s + tag:10s} {speed:8,.0f} tok/s ({speed / ref:.2f}x{own})"
                      f" acc {r['accuracy']:.3f}, {r['mean_rows']:.0f} rows a step, "
                      f"{r['kv_read_share']:.2f} of attention reads needed", flush=True)
            r = eval_speed(lm, task, args)
            runs.setdefault(f"eval{tag}", []).append(r)
            print(f"  eval{tag} n={args.eval_n}   {r['tokens_per_s']:8,.0f} tok/s "
                  f"({r['tokens_per_s'] / ref:.2f}x; {r['ratio_to_own_reference']:.2f}x "
                  f"batch-64 decoding of its mean {r['mean_tokens']} tokens, "
                  f"{r['ratio_to_matched_reference']:.2f}x of its own rows), "
                  f"{r['mean_rows']:.0f} rows a step, {r['kv_read_share']:.2f} of attention "
                  "reads needed", flush=True)
        layout.MAX_SEGMENTS = args.max_segments[0]
    refs = [r["tokens_per_s"] for r in runs["reference"]]
    refs_128 = [r["tokens_per_s"] for r in runs["reference_128"]]
    results = {}
    for name, rs in runs.items():
        ratios = [r["tokens_per_s"] / ref for r, ref in zip(rs, refs, strict=True)]
        ratios_128 = [r["tokens_per_s"] / ref for r, ref in zip(rs, refs_128, strict=True)]
        results[name] = {"tokens_per_s": statistics.median(r["tokens_per_s"] for r in rs),
                         "ratio_to_batch64": statistics.median(ratios),
                         "ratios": [round(x, 3) for x in ratios],
                         "ratio_to_batch64_128": statistics.median(ratios_128),
                         **{k: rs[0][k] for k in ("accuracy", "mean_rows", "kv_read_share",
                                                  "mean_tokens") if k in rs[0]}}
        for key in ("own", "matched"):
            if f"ratio_to_{key}_reference" in rs[0]:
                got = [r[f"ratio_to_{key}_reference"] for r in rs]
                results[name] |= {f"ratio_to_{key}_reference": statistics.median(got),
                                  f"ratios_to_{key}_reference": [round(x, 3) for x in got]}
    out = {"command": "python benchmarks/engine.py " + shlex.join(argv or sys.argv[1:]),
           "args": {k: v for k, v in vars(args).items() if k != "json"} | {
               "json": str(args.json) if args.json else None},
           "model": lm.name, "model_sha256": weights_digest(args.model),
           "torch": torch.__version__, "results": results}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_suffix(".tmp")
        tmp.write_text(json.dumps(out, indent=2))
        tmp.replace(args.json)
    return out


if __name__ == "__main__":
    main()
