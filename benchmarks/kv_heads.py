"""Grouped-query attention: decoding speed against the number of key/value heads.

For each ``--kv-heads`` value, a model of ``--preset``'s shape with that many key/value
heads (random weights from one seed; ``n_head`` of them is ordinary multi-head
attention) is timed in ponder's sampler and in transformers' ``generate`` on the same
weights, at each batch size, exactly ``--new-tokens`` tokens a row (EOS ignored),
greedy. Every repeat runs every model on both sides back to back (the models in turn
first), so load on a shared machine hits them alike; medians are reported, and each
ratio is the median of the per-repeat ratios. Fewer key/value heads shrink what a
decoding step reads from the cache by ``n_head / kv_heads`` and, in ponder, turn each
group's attention into one (g, hs) @ (hs, L) product that reads its keys once for its
g query heads; transformers repeats the shared heads (``repeat_kv``) before attending.

    python benchmarks/kv_heads.py --json reports/kv_heads_benchmark.json
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import warnings
from pathlib import Path

import torch
from sampler import (
    bytes_read,
    prompts,
    read_bandwidth_gbs,
    run_ponder,
    run_transformers,
    to_transformers,
)

from ponder.eval.report import atomic_write_json
from ponder.lm.model import Transformer, preset
from ponder.lm.sampler import Sampler
from ponder.lm.tokenizer import CharTokenizer


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--kv-heads", default="4,2,1", help="comma-separated key/value head "
                    "counts, each dividing the preset's heads; the first is the baseline")
    ap.add_argument("--batches", default="1,64", help="comma-separated batch sizes")
    ap.add_argument("--prompt-tokens", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--kv-dtype", default="float32", choices=["float32", "bfloat16"],
                    help="ponder's key/value cache type")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    import transformers

    transformers.logging.set_verbosity_error()
    tok = CharTokenizer()
    heads = [int(x) for x in args.kv_heads.split(",")]
    batches = [int(x) for x in args.batches.split(",")]
    models = {}
    for k in heads:
        torch.manual_seed(args.seed)
        try:
            model = Transformer(preset(args.preset, vocab_size=tok.vocab_size,
                                       n_kv_head=k)).eval()
        except ValueError as e:
            sys.exit(f"--kv-heads {k}: {e}")
        models[k] = (model, Sampler(model, tok, max_batch=max(batches), kv_dtype=args.kv_dtype),
                     to_transformers(model, tok))
    base = heads[0]
    result: dict = {"command": "python benchmarks/kv_heads.py "
                    + shlex.join(argv if argv is not None else sys.argv[1:]),
                    "preset": args.preset, "threads": torch.get_num_threads(),
                    "kv_dtype": args.kv_dtype,
                    "torch": torch.__version__, "transformers": transformers.__version__,
                    "prompt_tokens": args.prompt_tokens, "new_tokens": args.new_tokens,
                    "repeats": args.repeats, "decoding": "greedy",
                    "params": {str(k): m.num_params() for k, (m, _, _) in models.items()}}
    bandwidth = read_bandwidth_gbs()
    result["read_bandwidth_gb_s"] = round(bandwidth, 2)
    for b in batches:
        ids = prompts(tok, b, args.prompt_tokens, args.seed)
        for _, sampler, hf in models.values():  # warm-up
            run_ponder(sampler, ids, 4, False)
            run_transformers(hf, ids, 4, False, tok.pad_id)
        walls: dict[int, dict[str, list[float]]] = {k: {"ponder": [], "transformers": []}
                                                    for k in heads}
        for rep in range(args.repeats):
            order = heads[rep % len(heads):] + heads[: rep % len(heads)]  # none always first
            for k in order:
                _, sampler, hf = models[k]
                walls[k]["ponder"].append(run_ponder(sampler, ids, args.new_tokens, False)[0])
                walls[k]["transformers"].append(
                    run_transformers(hf, ids, args.new_tokens, False, tok.pad_id)[0])
            print(f"batch {b}, repeat {rep + 1}: " + ", ".join(
                f"kv {k}: ponder {b * args.new_tokens / w['ponder'][-1]:,.0f} / "
                f"transformers {b * args.new_tokens / w['transformers'][-1]:,.0f} tok/s"
                for k, w in walls.items()), flush=True)
        tokens = b * args.new_tokens
        rows = {}
        for k, w in walls.items():
            med = {side: statistics.median(t) for side, t in w.items()}
            rows[f"kv_heads_{k}"] = {
                "ponder_tok_s": round(tokens / med["ponder"], 1),
                "transformers_tok_s": round(tokens / med["transformers"], 1),
                "ponder_vs_transformers": round(statistics.median(
                    t / p for p, t in zip(w["ponder"], w["transformers"], strict=True)), 3),
                f"ponder_vs_kv_heads_{base}": round(statistics.median(
                    q / p for p, q in zip(w["ponder"], walls[base]["ponder"], strict=True)), 3),
                f"transformers_vs_kv_heads_{base}": round(statistics.median(
                    q / p for p, q in zip(w["transformers"], walls[base]["transformers"],
                                          strict=True)), 3),
                "ponder_read_share_of_bandwidth": round(bytes_read(
                    models[k][0], b, args.prompt_tokens, args.new_tokens,
                    models[k][1].kv_itemsize)
                    / med["ponder"] / 1e9 / bandwidth, 4),
            }
            r = rows[f"kv_heads_{k}"]
            print(f"  batch {b:>3}, {k} key/value heads: ponder {r['ponder_tok_s']:>9,.0f} "
                  f"tok/s ({r[f'ponder_vs_kv_heads_{base}']:.2f}x {base} heads; "
                  f"{r['ponder_vs_transformers']:.2f}x transformers, which ran "
                  f"{r[f'transformers_vs_kv_heads_{base}']:.2f}x its {base}-head speed); "
                  f"reads {100 * r['ponder_read_share_of_bandwidth']:.0f}% of bandwidth",
                  flush=True)
        result[f"batch_{b}"] = rows
    if args.json:
        atomic_write_json(args.json, result)
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
