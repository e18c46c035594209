"""Serving benchmark: latency, throughput and errors of ``ponder serve`` under load.

    python benchmarks/serve.py --fake          # the server's own overhead (a FunctionLM)
    python benchmarks/serve.py [--model SPEC]  # the bundled model (load_lm(None)) or SPEC
        [--requests 200] [--concurrency 16] [--effort low] [--json reports/serve.json]

The server runs in a child process on 127.0.0.1 (a free port), so that its threads do
not share an interpreter lock with the clients; ``--concurrency`` client threads then
send ``--requests`` chat completions between them, each waiting for its answer before
sending the next. Questions are test-split problems of the built-in task families
(``--tasks``), so with a real model the answers are also checked (accuracy). With
``--fake`` the model is a function that writes a short trace instantly: what is left is
the cost of HTTP, validation, queueing, batching and summaries.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import queue
import random
import shlex
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from ponder.eval.report import atomic_write_json
from ponder.tasks import get_task


def fake_reasoner(prompt: str, rng: random.Random, temperature: float) -> str:
    """A few step lines and an answer, at no cost: isolates the server's overhead."""
    steps = [f"s{i} = {rng.randint(0, 99)}" for i in range(8)]
    return "\n".join(steps) + "\n</think>\nAnswer: 42"


def _serve(model: str | None, fake: bool, effort: str, workers: int, ready: Any) -> None:
    """Child process: build the engine and serve until terminated."""
    import socket

    import uvicorn

    from ponder.lm.function import FunctionLM
    from ponder.serve import Engine, create_app

    if fake:
        lm = FunctionLM(fake_reasoner, name="fake")
    else:
        from ponder.lm.registry import load_lm

        lm = load_lm(model)
    engine = Engine(lm, default_effort=effort, workers=workers, max_pending=256)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    ready.put((sock.getsockname()[1], engine.name))
    server = uvicorn.Server(uvicorn.Config(create_app(engine), log_level="warning",
                                           lifespan="off"))
    server.run(sockets=[sock])


def percentile(xs: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]) of a non-empty list."""
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]


def run_load(url: str, model: str, questions: list[tuple[str, Any]], concurrency: int,
             effort: str) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    correct, tokens, reasoning = 0, 0, 0
    answers: list[str | None] = [None] * len(questions)
    lock, next_i = threading.Lock(), iter(range(len(questions)))
    start = threading.Barrier(concurrency + 1)
    t_start = 0.0

    def client() -> None:
        nonlocal correct, tokens, reasoning
        with httpx.Client(timeout=600) as http:
            http.get(url + "/health")  # connect (and warm up) before the clock starts
            start.wait()
            while True:
                with lock:
                    i = next(next_i, None)
                if i is None:
                    return
                text, check = questions[i]
                body = {"model": model, "reasoning_effort": effort,
                        "messages": [{"role": "user", "content": text}]}
                t = time.perf_counter()
                try:
                    r = http.post(url + "/v1/chat/completions", json=body)
                    ok = r.status_code == 200
                    data = r.json()
                except (httpx.HTTPError, ValueError) as e:
                    ok, data = False, {"error": {"message": repr(e)}}
                dt = time.perf_counter() - t
                with lock:
                    latencies.append(dt)
                    if not ok:
                        errors.append(str(data.get("error", data))[:200])
                        continue
                    u = data["usage"]
                    answers[i] = data["choices"][0]["message"]["content"]
                    tokens += u["completion_tokens"]
                    reasoning += u["completion_tokens_details"]["reasoning_tokens"]
                    correct += bool(check and check(data["choices"][0]["message"]["content"]))
                    if len(latencies) % max(1, len(questions) // 10) == 0:
                        el = time.perf_counter() - t_start
                        print(f"  {len(latencies)}/{len(questions)} done, {el:.1f} s, "
                              f"{len(latencies) / el:.1f} req/s, {len(errors)} errors",
                              flush=True)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for th in threads:
        th.start()
    start.wait()
    t_start = time.perf_counter()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t_start
    return {
        "requests": len(questions), "errors": len(errors), "error_samples": errors[:5],
        "wall_s": round(wall, 3), "throughput_rps": round(len(questions) / wall, 2),
        "latency_p50_s": round(percentile(latencies, 50), 4),
        "latency_p99_s": round(percentile(latencies, 99), 4),
        "latency_mean_s": round(statistics.fmean(latencies), 4),
        "completion_tokens_per_s": round(tokens / wall, 1),
        "reasoning_tokens": reasoning,
        "accuracy": round(correct / (len(questions) - len(errors)), 4)
        if len(errors) < len(questions) and all(c for _, c in questions) else None,
        "answers": answers,
    }


def make_questions(n: int, tasks: str, fake: bool, seed: int) -> list[tuple[str, Any]]:
    if fake:
        return [(f"What is {i} + {i + 1}?", None) for i in range(n)]
    pool = []
    for name in tasks.split(","):
        task = get_task(name.strip())
        for p in task.problems("test", n, seed=seed):
            pool.append((p.prompt, lambda text, t=task, p=p: t.verify(p, text) == 1.0))
    random.Random(seed).shuffle(pool)
    return pool[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model spec (default: the bundled model)")
    ap.add_argument("--fake", action="store_true", help="a FunctionLM: server overhead only")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--effort", default="low", choices=["low", "medium", "high", "auto"])
    ap.add_argument("--workers", type=int, default=16, help="server worker threads")
    ap.add_argument("--tasks", default="arith,chain,countdown,perm")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--serial", action="store_true",
                    help="also send the same requests one at a time (one client), and "
                         "report the speed-up and whether the answers are the same")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args()

    ctx = mp.get_context("spawn")
    ready = ctx.Queue()
    child = ctx.Process(target=_serve, daemon=True,
                        args=(args.model, args.fake, args.effort, args.workers, ready))
    child.start()
    try:
        while True:  # loading a model can take a while; a child that died will not answer
            try:
                port, name = ready.get(timeout=0.5)
                break
            except queue.Empty:
                if not child.is_alive():
                    raise SystemExit("the server process failed (its error is above)") from None
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:  # the socket is bound before uvicorn starts answering
            try:
                httpx.get(url + "/health", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or not child.is_alive():
                    raise SystemExit("the server did not start") from None
                time.sleep(0.05)
        questions = make_questions(args.requests, args.tasks, args.fake, args.seed)
        print(f"{len(questions)} requests, {args.concurrency} clients, effort {args.effort}, "
              f"model {name}{' (fake)' if args.fake else ''}", flush=True)
        result = run_load(url, name, questions, args.concurrency, args.effort)
        if args.serial:
            print("the same requests, one client:", flush=True)
            serial = run_load(url, name, questions, 1, args.effort)
            pairs = list(zip(result["answers"], serial.pop("answers"), strict=True))
            result["serial"] = serial
            result["speedup_vs_serial"] = round(result["throughput_rps"]
                                                / serial["throughput_rps"], 2)
            result["same_answers_as_serial"] = sum(a == b is not None for a, b in pairs)
    finally:
        child.terminate()
        child.join(10)
    print(f"p50 {result['latency_p50_s'] * 1000:.1f} ms   p99 {result['latency_p99_s'] * 1000:.1f}"
          f" ms   throughput {result['throughput_rps']:.1f} req/s   "
          f"{result['completion_tokens_per_s']:.0f} completion tokens/s   "
          f"errors {result['errors']}"
          + (f"   accuracy {result['accuracy']:.3f}" if result["accuracy"] is not None else ""))
    if "serial" in result:
        print(f"one client: {result['serial']['throughput_rps']:.1f} req/s; "
              f"{args.concurrency} clients are {result['speedup_vs_serial']:.2f}x faster, "
              f"same answers {result['same_answers_as_serial']}/{len(questions)}")
    result.pop("answers")
    if args.json:
        report = {"command": shlex.join(["benchmarks/serve.py", *sys.argv[1:]]),
                  "config": {k: str(v) if isinstance(v, Path) else v
                             for k, v in vars(args).items()},
                  "model": name, "machine": {"python": platform.python_version(),
                                             "cpu": platform.processor() or platform.machine()},
                  "result": result}
        atomic_write_json(args.json, report)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
