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
right after it (``ratio_to_own_reference``).

Every caller is also measured against the replay of its own requests
(``ratio_to_replay``): the engine logs each request it completes (prompt, tokens
generated, temperature), and the sampler then decodes exactly those, 64 rows at a time
in order of length, EOS ignored. A token costs more the longer its row, so a mix of
short and long rows (the ladder's levels, a beam's growing prefixes) costs more a token
than rows of the mean length; the replay does the same work with ideal batching, so
this ratio isolates what continuous batching and scheduling cost.

Beam search and MCTS need a PRM; this benchmark gives them the task's own step checker
(each line scored 1 if the task accepts it, else 0), which runs no model, so the
numbers measure the policy's generation alone.

    python benchmarks/engine.py                          # the bundled reasoner
    python benchmarks/engine.py --json reports/engine_benchmark.json
    python benchmarks/engine.py --max-segments 4,1     # runs of rows vs one span, same run
    python benchmarks/engine.py --feed-max 8,0         # stored prefixes fed vs prefilled
    python benchmarks/engine.py --compile              # decoding step compiled, everywhere
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
from ponder.files import atomic_write_text
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
    records, wall, replay, use = logged(lm, lambda: run_scale(lm, task, cfg, scorers))
    tokens = sum(r["generated_tokens"] for r in records)
    return {"tokens_per_s": tokens / wall, "tokens": tokens, "seconds": wall,
            "accuracy": sum(r["correct"] for r in records) / len(records),
            "replay_tokens_per_s": replay, "ratio_to_replay": tokens / wall / replay,
            **use}


PHASES = ("admit", "sample", "layout", "forward")  # the engine's ``seconds`` keys


def engine_counters(lm: Any) -> dict[str, float]:
    eng = lm.sampler.engine
    return ({k: getattr(eng, k) for k in ("steps", "row_steps", "kv_read", "kv_live")}
            | {f"seconds_{p}": eng.seconds[p] for p in PHASES})


def engine_use(lm: Any, before: dict[str, float], wall: float) -> dict[str, Any]:
    """Rows decoded per step on average, the share of the cache columns read by
    attention that held the rows' own tokens, and the share of ``wall`` the engine's
    worker spent in each phase, since ``before``."""
    d = {k: v - before[k] for k, v in engine_counters(lm).items()}
    return {"mean_rows": d["row_steps"] / max(d["steps"], 1),
            "kv_read_share": d["kv_live"] / max(d["kv_read"], 1),
            "time_shares": {p: round(d[f"seconds_{p}"] / wall, 4) for p in PHASES}}


def replay_reference(lm: Any, log: list[tuple[tuple[int, ...], int, float]]) -> float:
    """Tokens/s of the sampler decoding exactly the requests a caller made (each prompt
    for as many tokens as it generated, at its temperature, EOS ignored), 64 rows at a
    time in order of temperature and length, so that every batch is full and its rows
    about equally long: the best a batch-64 decoder does on the same sequences."""
    rows = sorted(log, key=lambda x: (x[2], x[1]))
    t0 = time.perf_counter()
    for k in range(0, len(rows), 64):
        chunk = rows[k: k + 64]
        lm.sampler.generate([list(p) for p, _, _ in chunk],
                            max_tokens=[n for _, n, _ in chunk], temperature=chunk[0][2],
                            seeds=range(len(chunk)), ignore_eos=True)
    return sum(n for _, n, _ in rows) / (time.perf_counter() - t0)


def shares(r: dict[str, Any]) -> str:
    """The engine's phases as shares of a caller's wall time, for the console."""
    return "time: " + ", ".join(f"{p} {x:.2f}" for p, x in r["time_shares"].items())


def logged(lm: Any, run: Any) -> tuple[Any, float, float, dict[str, Any]]:
    """``run()``'s result, its wall time, the tokens/s of replaying its requests, and
    the engine's use during the run (``engine_use``; the replay not counted)."""
    eng = lm.sampler.engine
    eng.log = []
    before = engine_counters(lm)
    t0 = time.perf_counter()
    try:
        out = run()
        wall = time.perf_counter() - t0
        use = engine_use(lm, before, wall)
        log = eng.log
    finally:
        eng.log = None
    return out, wall, replay_reference(lm, log), use


def eval_speed(lm: Any, task: Task, args: argparse.Namespace,
               longest_first: bool = False) -> dict[str, Any]:
    """``ponder eval`` 's loop over every level of the task, then two references of
    the sampler's batch-64 decoding run right after it: rows of the evaluation's mean
    completion length (the levels above the scale problems' write longer traces, and a
    longer row costs more a token), and the replay of its own requests
    (``replay_reference``)."""
    report, wall, replay, use = logged(lm, lambda: evaluate_tasks(
        lm, [task], args.eval_n, seed=args.seed, keep_records=True,
        longest_first=longest_first)[task.name])
    records = report.records or []
    tokens = sum(r["tokens"] for r in records)
    mean_tokens = round(tokens / max(len(records), 1))
    problems = task.problems("test", 64, seed=args.seed)
    ref = reference(lm, problems, max(mean_tokens, 1))
    return {"tokens_per_s": tokens / wall, "tokens": tokens, "seconds": wall,
            "accuracy": report.accuracy, "mean_tokens": mean_tokens,
            "reference_tokens_per_s": ref, "ratio_to_own_reference": tokens / wall / ref,
            "replay_tokens_per_s": replay, "ratio_to_replay": tokens / wall / replay,
            **use}


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
    ap.add_argument("--eval-order", default="shortest",
                    help="the order the evaluation generates in, one run each: shortest "
                    "(smallest token caps first, ponder eval's) and/or longest, e.g. "
                    "shortest,longest")
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
    ap.add_argument("--feed-max", default="8",
                    help="tokens past a stored prefix that decoding feeds instead of a "
                    "prefill (the engine's feed_max), comma-separated to compare in the "
                    "same run as '<caller>@feed <n>'; 0 prefills every continuation")
    ap.add_argument("--compile", action="store_true",
                    help="compile the decoding step (callers and references alike)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    args.difficulty = [int(d) for d in args.difficulty.split(",")]
    args.max_segments = [int(x) for x in str(args.max_segments).split(",")]
    args.feed_max = [int(x) for x in str(args.feed_max).split(",")]
    args.eval_order = [x.strip() for x in args.eval_order.split(",") if x.strip()]
    if not args.eval_order or set(args.eval_order) - {"longest", "shortest"}:
        sys.exit(f"--eval-order wants longest and/or shortest, got {args.eval_order}")
    # (runs of rows, tokens fed, tag): the first plainly, then one setting moved at a time
    variants = [(args.max_segments[0], args.feed_max[0], "")]
    variants += [(m, args.feed_max[0], f"@{m} runs") for m in args.max_segments[1:]]
    variants += [(args.max_segments[0], f, f"@feed {f}") for f in args.feed_max[1:]]
    torch.set_num_threads(args.threads)
    lm = load_lm(args.model, kv_dtype=args.kv_dtype, compile=args.compile)
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
    if args.compile:  # compile the step for ragged rows too, before any timing
        evaluate_tasks(lm, [task], 16, seed=args.seed + 1)
    for rep in range(args.repeats):
        ref = reference(lm, problems, args.new_tokens)
        runs["reference"].append({"tokens_per_s": ref})
        runs["reference_128"].append({"tokens_per_s": reference(lm, problems, 128)})
        print(f"repeat {rep + 1}: sampler batch 64 {ref:,.0f} tok/s "
              f"({args.new_tokens} tokens a row)", flush=True)
        for segments, feed, tag in variants:
            layout.MAX_SEGMENTS = segments
            lm.sampler.engine.feed_max = feed
            for s in strategies:
                r = scale_speed(lm, task, s, args)
                runs.setdefault(f"scale:{s}{tag}", []).append(r)
                speed = r["tokens_per_s"]
                print(f"  scale {s + tag:10s} {speed:8,.0f} tok/s ({speed / ref:.2f}x; "
                      f"{r['ratio_to_replay']:.2f}x of its requests replayed)"
                      f" acc {r['accuracy']:.3f}, {r['mean_rows']:.0f} rows a step, "
                      f"{r['kv_read_share']:.2f} of attention reads needed; "
                      f"{shares(r)}", flush=True)
            for order in args.eval_order:
                r = eval_speed(lm, task, args, longest_first=order == "longest")
                name = f"eval{tag}" + ("" if order == args.eval_order[0] else f"@{order} first")
                runs.setdefault(name, []).append(r)
                print(f"  {name} n={args.eval_n}   {r['tokens_per_s']:8,.0f} tok/s "
                      f"({r['tokens_per_s'] / ref:.2f}x; {r['ratio_to_own_reference']:.2f}x "
                      f"batch-64 decoding of its mean {r['mean_tokens']} tokens, "
                      f"{r['ratio_to_replay']:.2f}x of its requests replayed), "
                      f"{r['mean_rows']:.0f} rows a step, {r['kv_read_share']:.2f} of "
                      f"attention reads needed; {shares(r)}", flush=True)
        layout.MAX_SEGMENTS = args.max_segments[0]
        lm.sampler.engine.feed_max = args.feed_max[0]
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
        if "time_shares" in rs[0]:  # medians over the repeats, phase by phase
            results[name]["time_shares"] = {p: statistics.median(r["time_shares"][p]
                                                                 for r in rs) for p in PHASES}
        for key in ("ratio_to_own_reference", "ratio_to_replay"):
            if key in rs[0]:
                got = [r[key] for r in rs]
                results[name] |= {key: statistics.median(got),
                                  key.replace("ratio_", "ratios_", 1): [round(x, 3) for x in got]}
    out = {"command": "python benchmarks/engine.py " + shlex.join(argv or sys.argv[1:]),
           "args": {k: v for k, v in vars(args).items() if k != "json"} | {
               "json": str(args.json) if args.json else None},
           "model": lm.name, "model_sha256": weights_digest(args.model),
           "torch": torch.__version__, "results": results}
    if args.json:
        atomic_write_text(args.json, json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
