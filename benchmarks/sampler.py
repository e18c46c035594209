"""Sampling speed: ponder's sampler against transformers' ``generate`` on the same weights.

Both sides get the identical model (ponder's state dict loaded into ``LlamaForCausalLM``
built from ``hf_config``), the same prompts and exactly ``--new-tokens`` new tokens per row
(EOS ignored on both sides, no stop strings), greedy unless ``--sample``. Runs alternate
between the two so that load on a shared machine hits both alike; medians are reported.
The script also measures the machine's fp32 matmul peak (large square ``torch.mm``) and
the fraction of it ponder's sampler reaches at the largest batch, counting FLOPs as
``model.flops_per_token`` does (matmuls + attention at each token's context), and the
machine's memory read bandwidth (a sum over 512 MB) with the share of it the sampler's
reads use at the largest batch (the weights once per step, plus every row's cached keys
and values at its context).

One torch thread by default: on a small shared machine, a parallel op waits for its
slowest worker, and a worker descheduled by other load stalls it, which makes multi-thread
timings of a model this small mostly a measure of the load (``--threads 2`` to compare).

``--compile`` times ponder with its decoding step compiled (``ponder.lm.fused``), and the
uncompiled sampler as a third side in the same alternation (``eager_tok_s``,
``compiled_vs_eager``); compilation happens in the untimed warm-up.

    python benchmarks/sampler.py                       # preset "small", random weights
    python benchmarks/sampler.py --model runs/small --json results/sampler.json
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

from ponder.eval.report import atomic_write_json
from ponder.lm.checkpoint import hf_config, load_checkpoint
from ponder.lm.model import Transformer, preset
from ponder.lm.sampler import Sampler
from ponder.lm.tokenizer import CHARS, CharTokenizer


def build(args: argparse.Namespace) -> tuple[Transformer, CharTokenizer, str]:
    if args.model:
        model, tok, _ = load_checkpoint(args.model)
        return model, tok, str(args.model)
    tok = CharTokenizer()
    torch.manual_seed(args.seed)
    return Transformer(preset(args.preset, vocab_size=tok.vocab_size)).eval(), tok, args.preset


def to_transformers(model: Transformer, tok: CharTokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    hf = LlamaForCausalLM(LlamaConfig(**hf_config(model.cfg, tok)))
    hf.load_state_dict(model.state_dict())  # parameter names match; lm_head is tied
    hf.tie_weights()
    return hf.eval()


def prompts(tok: CharTokenizer, batch: int, length: int, seed: int) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    chars = torch.randint(0, len(CHARS), (batch, length - 1), generator=g).tolist()
    return [[tok.bos_id, *(tok.stoi[CHARS[c]] for c in row)] for row in chars]


def timed(fn) -> tuple[float, float, object]:
    """(wall seconds, process CPU seconds, result) of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def run_ponder(sampler: Sampler, ids: list[list[int]], new: int, sample: bool
               ) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, FLOPs) of one generation."""
    kw = dict(temperature=1.0, top_p=0.95) if sample else dict(temperature=0.0)
    wall, cpu, out = timed(lambda: sampler.generate(ids, max_tokens=new, ignore_eos=True,
                                                    seeds=range(len(ids)), **kw))
    assert all(c.tokens == new for r in out for c in r)
    return wall, cpu, sum(c.flops for r in out for c in r)


def run_transformers(hf, ids: list[list[int]], new: int, sample: bool, pad_id: int
                     ) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one ``generate``."""
    x = torch.tensor(ids)  # equal lengths: no padding on either side
    kw = dict(do_sample=True, temperature=1.0, top_p=0.95, top_k=0) if sample else \
        dict(do_sample=False)

    def go():
        with torch.inference_mode():
            return hf.generate(input_ids=x, attention_mask=torch.ones_like(x),
                               max_new_tokens=new, min_new_tokens=new, pad_token_id=pad_id,
                               use_cache=True, **kw)

    wall, cpu, out = timed(go)
    assert out.shape[1] == x.shape[1] + new
    return wall, cpu


def matmul_peak_gflops(size: int = 1024, repeats: int = 15) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t)
    return 2 * size**3 / statistics.median(times) / 1e9


def read_bandwidth_gbs(megabytes: int = 512, repeats: int = 7) -> float:
    """Memory read bandwidth (GB/s): a sum over a tensor far larger than the caches."""
    x = torch.ones(megabytes * 2**20 // 4)
    x.sum()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        x.sum()
        times.append(time.perf_counter() - t)
    return x.numel() * 4 / statistics.median(times) / 1e9


def bytes_read(model: Transformer, batch: int, prompt: int, new: int, itemsize: int) -> float:
    """Bytes a generation reads: every decoding step reads the weights once and each row's
    cached keys and values at its context."""
    cfg = model.cfg
    weights = 4 * model.num_params()
    kv_per_slot = cfg.n_layer * 2 * cfg.kv_heads * cfg.head_dim * itemsize
    contexts = sum(prompt + t for t in range(new))
    return new * weights + batch * kv_per_slot * contexts


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="a ponder checkpoint directory (default: random weights)")
    ap.add_argument("--preset", default="small", help="model preset without --model")
    ap.add_argument("--batches", default="1,16,64", help="comma-separated batch sizes")
    ap.add_argument("--prompt-tokens", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per side; median")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    ap.add_argument("--sample", action="store_true", help="temperature 1, top-p 0.95")
    ap.add_argument("--kv-dtype", default="float32", choices=["float32", "bfloat16"],
                    help="ponder's key/value cache type")
    ap.add_argument("--compile", action="store_true",
                    help="compile ponder's decoding step; the uncompiled one runs alongside")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="write results here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    import transformers

    transformers.logging.set_verbosity_error()
    model, tok, what = build(args)
    hf = to_transformers(model, tok)
    most = max(int(b) for b in args.batches.split(","))
    sampler = Sampler(model, tok, max_batch=most, kv_dtype=args.kv_dtype, compile=args.compile)
    eager = Sampler(model, tok, max_batch=most, kv_dtype=args.kv_dtype) if args.compile \
        else None
    result: dict = {
        "command": shlex.join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "model": what, "params": model.num_params(), "threads": torch.get_num_threads(),
        "kv_dtype": args.kv_dtype, "compile": args.compile,
        "torch": torch.__version__, "transformers": transformers.__version__,
        "prompt_tokens": args.prompt_tokens, "new_tokens": args.new_tokens,
        "repeats": args.repeats, "decoding": "sample" if args.sample else "greedy",
    }
    if not args.model:
        result["preset"] = args.preset
    print(f"{what}: {model.num_params() / 1e6:.2f}M params, {torch.get_num_threads()} threads, "
          f"{args.prompt_tokens} prompt + {args.new_tokens} new tokens, "
          f"median of {args.repeats}", flush=True)
    gflops: dict[int, float] = {}
    gbytes: dict[int, float] = {}
    itemsize = sampler.kv_itemsize
    print(f"{'batch':>5}  {'ponder tok/s':>12}  {'transformers tok/s':>18}  {'ratio':>6}  "
          f"{'ponder/cpu-s':>12}  {'transf./cpu-s':>12}  {'ratio':>6}")
    for b in (int(x) for x in args.batches.split(",")):
        ids = prompts(tok, b, args.prompt_tokens, args.seed)
        run_ponder(sampler, ids, 4, args.sample)  # warm-up (allocator, fused weights,
        run_transformers(hf, ids, 4, args.sample, tok.pad_id)  # compilation)
        ours, theirs, flops, uncompiled = [], [], [], []
        for _ in range(args.repeats):  # alternate, so both see the same machine load
            wall, cpu, work = run_ponder(sampler, ids, args.new_tokens, args.sample)
            ours.append((wall, cpu))
            flops.append(work / wall)
            theirs.append(run_transformers(hf, ids, args.new_tokens, args.sample, tok.pad_id))
            if eager is not None:
                uncompiled.append(run_ponder(eager, ids, args.new_tokens, args.sample)[0])
        tokens = b * args.new_tokens
        med = [[statistics.median(t[i] for t in side) for i in (0, 1)] for side in (ours, theirs)]
        row = {"ponder_tok_s": tokens / med[0][0], "transformers_tok_s": tokens / med[1][0],
               "ratio": med[1][0] / med[0][0],
               # tokens per second of CPU time this process got: on a shared machine,
               # less sensitive to how much of the time other work held the cores
               "ponder_tok_cpu_s": tokens / med[0][1], "transformers_tok_cpu_s": tokens / med[1][1],
               "cpu_ratio": med[1][1] / med[0][1]}
        if uncompiled:
            row["eager_tok_s"] = tokens / statistics.median(uncompiled)
            row["compiled_vs_eager"] = statistics.median(uncompiled) / med[0][0]
        result[f"batch_{b}"] = {k: round(v, 2) for k, v in row.items()}
        gflops[b] = statistics.median(flops) / 1e9
        gbytes[b] = bytes_read(model, b, args.prompt_tokens, args.new_tokens, itemsize) \
            / med[0][0] / 1e9
        print(f"{b:>5}  {row['ponder_tok_s']:>12.0f}  {row['transformers_tok_s']:>18.0f}  "
              f"{row['ratio']:>5.1f}x  {row['ponder_tok_cpu_s']:>12.0f}  "
              f"{row['transformers_tok_cpu_s']:>12.0f}  {row['cpu_ratio']:>5.1f}x"
              + (f"  (uncompiled {row['eager_tok_s']:.0f} tok/s: compiled "
                 f"{row['compiled_vs_eager']:.2f}x)" if uncompiled else ""), flush=True)
    largest = max(gflops)
    peak = matmul_peak_gflops()
    bandwidth = read_bandwidth_gbs()
    result.update({"matmul_peak_gflops": round(peak, 1),
                   f"ponder_gflops_batch_{largest}": round(gflops[largest], 2),
                   "ponder_fraction_of_peak": round(gflops[largest] / peak, 4),
                   "read_bandwidth_gb_s": round(bandwidth, 2),
                   f"ponder_gb_s_batch_{largest}": round(gbytes[largest], 2),
                   "ponder_fraction_of_bandwidth": round(gbytes[largest] / bandwidth, 4)})
    print(f"fp32 matmul peak {peak:.1f} GFLOP/s (1024x1024 mm); ponder at batch {largest}: "
          f"{gflops[largest]:.2f} GFLOP/s = {100 * gflops[largest] / peak:.1f}% of peak")
    print(f"read bandwidth {bandwidth:.1f} GB/s (sum over 512 MB); ponder at batch {largest} "
          f"reads {gbytes[largest]:.2f} GB/s (weights + cached keys/values) = "
          f"{100 * gbytes[largest] / bandwidth:.1f}% of it")
    if args.json:
        atomic_write_json(args.json, result)
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
