"""Decoding speed: ponder's engine against llama.cpp on the same weights.

The model is exported with ``ponder export --format gguf`` (float32, so both sides do
the same arithmetic) and run through llama.cpp's C API (``llama-cpp-python``'s low-level
bindings): the prompts are prefilled in one ``llama_decode``, then every step decodes one
token for each of the B sequences in one call, the next token being the argmax of its
logits (greedy, EOS ignored). ponder runs ``Sampler.generate`` greedily with EOS ignored.
Both use ``--threads`` threads (one by default: see ``benchmarks/sampler.py``); runs
alternate between the two so that load on a shared machine hits both alike, and the
medians of ``--repeats`` runs are reported. At batch B llama.cpp runs B parallel
sequences (``n_seq_max = B``), its own form of batched decoding.

Before timing, the script checks that the two agree: on held-out problems of the
built-in families, llama.cpp's tokenisation of each prompt equals ponder's and its greedy
continuation (to EOS or ``--check-tokens``) is token for token ponder's.

    pip install llama-cpp-python      # builds llama.cpp from source (~15 min on 2 cores)
    python benchmarks/vs_llama_cpp.py --json reports/llama_cpp_benchmark.json
"""

from __future__ import annotations

import argparse
import ctypes
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ponder.lm.checkpoint import load_checkpoint
from ponder.lm.gguf_export import export_gguf
from ponder.lm.registry import default_model_path
from ponder.lm.sampler import Sampler
from ponder.lm.tokenizer import CHARS, CharTokenizer
from ponder.tasks import get_task


class LlamaCpp:
    """A llama.cpp context over ``path`` for up to ``seqs`` parallel sequences of up to
    ``length`` tokens each, decoding greedily."""

    def __init__(self, path: Path, seqs: int, length: int, threads: int):
        import llama_cpp as L

        self.L = L
        self._quiet = L.llama_log_callback(lambda level, text, data: None)  # kept alive
        L.llama_log_set(self._quiet, ctypes.c_void_p())
        L.llama_backend_init()
        mp = L.llama_model_default_params()
        self.model = L.llama_model_load_from_file(str(path).encode(), mp)
        if not self.model:
            raise RuntimeError(f"llama.cpp could not load {path}")
        self.vocab = L.llama_model_get_vocab(self.model)
        self.n_vocab = L.llama_vocab_n_tokens(self.vocab)
        cp = L.llama_context_default_params()
        cp.n_ctx = seqs * length
        cp.n_batch = cp.n_ubatch = max(512, seqs * length)
        cp.n_seq_max = seqs
        cp.n_threads = cp.n_threads_batch = threads
        # llama.cpp's default cache type (GGML type ids: 0 float32, 1 float16)
        self.kv_type = {0: "float32", 1: "float16"}.get(int(cp.type_k), str(cp.type_k))
        self.ctx = L.llama_init_from_model(self.model, cp)
        if not self.ctx:
            raise RuntimeError("llama.cpp could not create a context")
        self.batch = L.llama_batch_init(cp.n_batch, 0, seqs)

    def tokenize(self, text: str) -> list[int]:
        raw = text.encode()
        buf = (self.L.llama_token * (len(raw) + 8))()
        n = self.L.llama_tokenize(self.vocab, raw, len(raw), buf, len(buf), True, True)
        return list(buf[:n])

    def _fill(self, items: list[tuple[int, int, int, bool]]) -> None:
        b = self.batch
        b.n_tokens = len(items)
        for i, (tok, pos, seq, out) in enumerate(items):
            b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = tok, pos, 1, out
            b.seq_id[i][0] = seq

    def _step(self, n_out: int) -> np.ndarray:
        if self.L.llama_decode(self.ctx, self.batch) != 0:
            raise RuntimeError("llama_decode failed")
        ptr = self.L.llama_get_logits(self.ctx)
        arr = np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)),
                                    shape=(n_out, self.n_vocab))
        return arr.argmax(axis=1)

    def greedy(self, prompts: list[list[int]], new: int, eos: int = -1) -> list[list[int]]:
        """Greedy continuations of ``prompts`` (one sequence each), ``new`` tokens or to
        ``eos``."""
        self.L.llama_memory_clear(self.L.llama_get_memory(self.ctx), True)
        items = [(t, i, s, i == len(p) - 1) for s, p in enumerate(prompts)
                 for i, t in enumerate(p)]
        self._fill(items)
        nxt = self._step(len(prompts))
        out: list[list[int]] = [[] for _ in prompts]
        live = list(range(len(prompts)))
        for step in range(new):
            for s, t in zip(live, nxt.tolist(), strict=True):
                out[s].append(t)
            live = [s for s in live if out[s][-1] != eos]
            if step == new - 1 or not live:
                break
            self._fill([(out[s][-1], len(prompts[s]) + step, s, True) for s in live])
            nxt = self._step(len(live))
        return out

    def close(self) -> None:
        self.L.llama_batch_free(self.batch)
        self.L.llama_free(self.ctx)
        self.L.llama_model_free(self.model)


def random_prompts(tok: CharTokenizer, batch: int, length: int, seed: int) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    chars = torch.randint(0, len(CHARS), (batch, length - 1), generator=g).tolist()
    return [[tok.bos_id, *(tok.stoi[CHARS[c]] for c in row)] for row in chars]


def agreement(llama: LlamaCpp, sampler: Sampler, tok: CharTokenizer, n: int, limit: int,
              seed: int) -> dict:
    """Tokenisation and greedy continuations on held-out problems, side by side."""
    from ponder.lm.template import format_prompt

    texts = []
    for name in ("arith", "chain", "countdown", "perm"):
        for p in get_task(name).problems("test", n, seed=seed):
            texts.append(format_prompt(p.prompt))
    same_tok = same_text = 0
    for i in range(0, len(texts), 16):
        chunk = texts[i:i + 16]
        ids = [tok.encode(t, bos=True) for t in chunk]
        same_tok += sum(llama.tokenize(t) == x for t, x in zip(chunk, ids, strict=True))
        ours = sampler.generate(ids, max_tokens=limit, temperature=0.0)
        theirs = llama.greedy(ids, limit, eos=tok.eos_id)
        for (c,), t in zip(ours, theirs, strict=True):
            same_text += tok.decode([x for x in t if x != tok.eos_id]) == c.text
    return {"prompts": len(texts), "same_tokens": same_tok, "same_greedy_text": same_text,
            "max_tokens": limit}


def time_ponder(sampler: Sampler, ids: list[list[int]], new: int) -> float:
    t = time.perf_counter()
    out = sampler.generate(ids, max_tokens=new, temperature=0.0, ignore_eos=True)
    assert all(c.tokens == new for r in out for c in r)
    return time.perf_counter() - t


def time_llama(llama: LlamaCpp, ids: list[list[int]], new: int) -> float:
    t = time.perf_counter()
    out = llama.greedy(ids, new)
    assert all(len(o) == new for o in out)
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, help="ponder checkpoint (default: the bundled one)")
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--prompt-tokens", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--check-problems", type=int, default=25, help="per family")
    ap.add_argument("--check-tokens", type=int, default=300)
    ap.add_argument("--kv-dtype", default="float32", choices=["float32", "bfloat16"],
                    help="ponder's key/value cache type")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    from importlib.metadata import version

    torch.set_num_threads(args.threads)
    ckpt = args.model or default_model_path()
    model, tok, _ = load_checkpoint(ckpt)
    batches = [int(b) for b in args.batches.split(",")]
    sampler = Sampler(model, tok, max_batch=max(batches), kv_dtype=args.kv_dtype)
    tmp = Path(tempfile.mkdtemp())
    gguf_path = export_gguf(ckpt, tmp / "model.gguf")
    length = min(model.cfg.max_seq_len,
                 max(args.prompt_tokens + args.new_tokens, 450 + args.check_tokens))
    result: dict = {
        "command": shlex.join([f"benchmarks/{Path(sys.argv[0]).name}",
                               *(argv if argv is not None else sys.argv[1:])]),
        "model": str(ckpt), "params": model.num_params(), "threads": args.threads,
        "torch": torch.__version__, "llama_cpp_python": version("llama-cpp-python"),
        "prompt_tokens": args.prompt_tokens, "new_tokens": args.new_tokens,
        "repeats": args.repeats, "decoding": "greedy, EOS ignored", "weights": "float32",
        "ponder_kv_dtype": args.kv_dtype,
    }
    llama = LlamaCpp(gguf_path, 16, length, args.threads)
    result["agreement"] = agreement(llama, sampler, tok, args.check_problems,
                                    args.check_tokens, args.seed)
    result["llama_cpp_kv_type"] = llama.kv_type
    llama.close()
    print("agreement:", result["agreement"], flush=True)
    print(f"{'batch':>5}  {'ponder tok/s':>12}  {'llama.cpp tok/s':>15}  {'ponder/llama':>12}")
    for b in batches:
        llama = LlamaCpp(gguf_path, b, args.prompt_tokens + args.new_tokens, args.threads)
        ids = random_prompts(tok, b, args.prompt_tokens, args.seed)

        time_ponder(sampler, ids, args.new_tokens), time_llama(llama, ids, args.new_tokens)
        times = [(time_ponder(sampler, ids, args.new_tokens),
                  time_llama(llama, ids, args.new_tokens)) for _ in range(args.repeats)]
        llama.close()
        tokens = b * args.new_tokens
        ratios = [t / o for o, t in times]
        row = {"ponder_tok_s": tokens / statistics.median(o for o, _ in times),
               "llama_cpp_tok_s": tokens / statistics.median(t for _, t in times),
               "ratio": statistics.median(ratios), "ratios": [round(r, 3) for r in ratios]}
        result[f"batch_{b}"] = {k: (round(v, 3) if isinstance(v, float) else v)
                                for k, v in row.items()}
        print(f"{b:>5}  {row['ponder_tok_s']:>12.0f}  {row['llama_cpp_tok_s']:>15.0f}  "
              f"{row['ratio']:>11.2f}x", flush=True)
    if args.json:
        from ponder.eval.report import atomic_write_json

        atomic_write_json(args.json, result)
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
