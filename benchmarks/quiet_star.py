"""Generation speed with a thought before every token, against plain generation.

The same model and prompts (direct-style TEST problems) run through:

- ``native``: ponder's production sampler (``NativeLM``, fused weights) — plain;
- ``quiet-star t=0``: the Quiet-STaR model with thinking off, through the same engine
  (so the ratio to it is the cost of thinking alone);
- ``quiet-star t=T`` for each thought length T: one thought of T tokens (plus the start
  and end tokens) before every emitted token, mixed through the mixing head, through
  ponder's generation engine (``ponder.quietstar.thinking``);
- with ``--loop``, ``loop t=T``: the same through the per-batch reference loop of
  ``ponder.quietstar.generate`` (what transformers backbones use), for the engine's gain.

Greedy; a row stops at EOS or after ``--new-tokens``, and tokens/s counts the tokens
emitted (EOS included); thought tokens per second are reported separately. Repeats
alternate between the configurations (load on a shared machine hits all alike) and the
median is reported. The issue that asked for this cites 0.38
tok/s with thoughts vs 2.94 plain for the reference implementation (Mistral-7B, GPU).

    python benchmarks/quiet_star.py --model runs/quiet_star/quiet --json out.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

from ponder.lm.native import NativeLM
from ponder.lm.template import format_prompt
from ponder.lm.tokenizer import CharTokenizer
from ponder.quietstar.backbone import NativeBackbone
from ponder.quietstar.generate import QuietStarLM
from ponder.quietstar.model import load_quietstar
from ponder.tasks import parse_tasks


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="", help="Checkpoint/run dir or hf:DIR (default: "
                    "the bundled reasoner with fresh thought tokens).")
    ap.add_argument("--task", default="arith")
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=16)
    ap.add_argument("--lengths", default="4,8,16")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--loop", action="store_true",
                    help="Also time the per-batch reference loop at each length.")
    ap.add_argument("--json", type=Path, default=None, help="Write the results here.")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    qs, path = load_quietstar(args.model, device=args.device)
    prompts = [format_prompt(p.prompt, think=False) for t in parse_tasks(args.task)
               for p in t.problems("test", args.prompts, seed=args.seed)][: args.prompts]
    runs: dict[str, object] = {}
    if isinstance(qs.backbone, NativeBackbone):
        runs["native"] = NativeLM(qs.backbone.model, CharTokenizer())
    lengths = [int(x) for x in args.lengths.split(",") if x.strip()]
    for t in [0, *lengths]:
        runs[f"quiet-star t={t}"] = QuietStarLM(qs, thought_tokens=t, max_batch=len(prompts))
        if args.loop and t:
            runs[f"loop t={t}"] = QuietStarLM(qs, thought_tokens=t, max_batch=len(prompts),
                                              engine=False)
    times: dict[str, list[float]] = {k: [] for k in runs}
    emitted: dict[str, int] = {}
    for rep in range(args.repeats):
        for name, lm in runs.items():
            t0 = time.perf_counter()
            outs = lm.generate(prompts, max_tokens=args.new_tokens, temperature=0.0,  # type: ignore[attr-defined]
                               seed=args.seed)
            times[name].append(time.perf_counter() - t0)
            emitted[name] = sum(c[0].tokens for c in outs)
        print(f"repeat {rep + 1}/{args.repeats}: " + ", ".join(
            f"{k} {emitted[k] / times[k][-1]:.1f} tok/s" for k in runs), file=sys.stderr)
    result = {"command": shlex.join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
              "model": path, "prompts": len(prompts), "new_tokens": args.new_tokens,
              "threads": args.threads, "device": args.device, "results": {}}
    plain = emitted["quiet-star t=0"] / statistics.median(times["quiet-star t=0"])
    for name in runs:
        sec = statistics.median(times[name])
        tps = emitted[name] / sec
        t = int(name.split("=")[1]) if "=" in name else 0
        result["results"][name] = {
            "seconds": sec, "emitted_tokens": emitted[name], "tokens_per_s": tps,
            "thought_tokens_per_s": tps * t, "slowdown_vs_t0": plain / tps}
    for name, r in result["results"].items():  # the engine against the reference loop
        if name.startswith("loop"):
            engine = result["results"][f"quiet-star {name.split()[1]}"]
            r["engine_speedup"] = engine["tokens_per_s"] / r["tokens_per_s"]
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["results"], indent=2))
    return result


if __name__ == "__main__":
    main()
