"""What thoughts buy on held-out problems (Quiet-STaR §5, Fig. 1-2, §5.2 "which tokens").

- ``answer_loglik``: log-likelihood of the answer tokens (the completion after the
  direct prompt, ``<eos>`` included) with thoughts of several lengths at every answer
  position; length 0 is the model with no thought. Per length: mean per-token NLL with
  a 95% interval over problems, and the paired per-problem gain over length 0 with its
  bootstrap interval (``ponder.eval.stats.paired_bootstrap``).
- ``token_gains``: the per-token gain grouped by how hard the token is for the plain
  model (quartiles of its NLL) — the paper finds that thoughts help most on hard tokens.
- ``direct_accuracy``: greedy direct answers through ``QuietStarLM`` at each length, with
  Wilson intervals and a paired comparison with length 0.

Departure: a model is evaluated at thought lengths it was not trained with (the paper
trains one model per length); thoughts are sampled once per position at the model's
thought temperature, from a fixed seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ponder.eval.accuracy import evaluate_tasks
from ponder.eval.stats import compare_paired, paired_bootstrap, wilson
from ponder.quietstar import loss as L
from ponder.quietstar.generate import QuietStarLM
from ponder.quietstar.model import QuietStar
from ponder.quietstar.objective import mixed_predictions
from ponder.quietstar.thoughts import rollout
from ponder.quietstar.train import text_batch
from ponder.tasks.base import Task
from ponder.train.data import Example, task_example


def held_out_examples(tasks: Sequence[Task], n: int, seed: int,
                      levels: Sequence[int] | None = None) -> list[Example]:
    """``n`` TEST problems per task in the direct style, at ``levels`` (None: all)."""
    return [task_example(t, p, "direct") for t in tasks
            for p in t.problems("test", n, seed=seed, difficulty=levels)]


@torch.no_grad()
def token_logprobs(qs: QuietStar, examples: Sequence[Example], length: int,
                   batch_size: int = 32, seed: int = 0) -> list[np.ndarray]:
    """Per example, the log-probs of its answer tokens with thoughts of ``length``."""
    gen = torch.Generator(device=qs.device).manual_seed(seed)
    out = []
    for s in range(0, len(examples), batch_size):
        chunk = examples[s : s + batch_size]
        ids, valid, answer = text_batch(chunk, qs)
        targets = L.horizon_targets(ids, valid, 1, answer)  # (B, L, 1): answer tokens
        ro = rollout(qs, ids, thought_tokens=length, n_true=1, temperature=qs.cfg.temperature,
                     pause=qs.cfg.pause, generator=gen)
        if length == 0:  # no thought at all: the plain model
            lp = L.target_logprobs(ro.base_logits, targets[..., 0])
        else:
            lp = L.target_logprobs(mixed_predictions(qs, ro, 1)[0], targets)[..., 0]
        for b in range(len(chunk)):
            out.append(lp[b][targets[b, :, 0] >= 0].cpu().numpy())
    return out


def _mean_ci(x: np.ndarray) -> dict[str, Any]:
    se = float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")
    m = float(x.mean())
    return {"mean": m, "ci95": [m - 1.96 * se, m + 1.96 * se], "n": len(x)}


def answer_loglik(qs: QuietStar, examples: Sequence[Example], lengths: Sequence[int],
                  batch_size: int = 32, seed: int = 0) -> dict[str, Any]:
    """NLL of answer tokens by thought length, gains over length 0, per-token gains by
    difficulty, and each problem's mean answer-token log-likelihood (lengths must
    include 0)."""
    per = {t: token_logprobs(qs, examples, t, batch_size, seed) for t in lengths}
    base = per[0]
    result: dict[str, Any] = {"by_length": {}, "n_problems": len(examples)}
    for t, lps in per.items():
        nll = np.array([-x.mean() for x in lps])
        entry = {"nll_per_token": _mean_ci(nll), "tokens": int(sum(len(x) for x in lps)),
                 # per problem, in order: to pair two models on the same problems
                 "per_problem": [round(float(x.mean()), 5) for x in lps]}
        if t != 0:  # paired: gain in mean answer-token log-likelihood per problem
            entry["gain_vs_0"] = paired_bootstrap([x.mean() for x in base],
                                                  [x.mean() for x in lps], seed=seed)
            entry["token_gains"] = token_gains(np.concatenate(base), np.concatenate(lps))
        result["by_length"][str(t)] = entry
    return result


def token_gains(base_lp: np.ndarray, lp: np.ndarray, bins: int = 4) -> list[dict[str, Any]]:
    """Mean log-likelihood gain per token, in quantile bins of the plain model's NLL
    (bin 0: the easiest tokens)."""
    nll = -base_lp
    edges = np.quantile(nll, np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, nll, side="right") - 1, 0, bins - 1)
    out = []
    for k in range(bins):
        sel = which == k
        if sel.sum() == 0:
            continue
        entry = _mean_ci(lp[sel] - base_lp[sel])
        out.append({"bin": k, "base_nll_range": [float(edges[k]), float(edges[k + 1])],
                    "gain": entry})
    return out


def direct_accuracy(qs: QuietStar, tasks: Sequence[Task], n: int, lengths: Sequence[int],
                    seed: int = 0, batch_size: int = 64,
                    levels: Sequence[int] | None = None) -> dict[str, Any]:
    """Greedy direct-answer accuracy (Wilson 95%) per task at each thought length, and the
    paired comparison of each length with length 0."""
    out: dict[str, Any] = {}
    correct: dict[int, list[bool]] = {}
    for t in lengths:
        reports = evaluate_tasks(QuietStarLM(qs, thought_tokens=t), tasks, n, seed=seed,
                                 difficulty=levels, direct=True, batch_size=batch_size,
                                 keep_records=True)
        correct[t] = [r["correct"] for rep in reports.values() for r in rep.records]
        k, m = sum(correct[t]), len(correct[t])
        out[str(t)] = {"accuracy": k / m, "ci95": list(wilson(k, m)), "n": m,
                       "by_task": {name: rep.to_dict() for name, rep in reports.items()},
                       "ids": [r["id"] for rep in reports.values() for r in rep.records],
                       "correct": correct[t]}
        if t != lengths[0]:
            out[str(t)]["vs_" + str(lengths[0])] = compare_paired(
                [float(c) for c in correct[lengths[0]]], [float(c) for c in correct[t]])
    return out


def compare_runs(evals: dict[str, dict[str, Any]], baseline: str) -> dict[str, Any]:
    """Direct accuracy of several evaluated models (``eval`` report results, by name) at
    the thought length each was trained with (its largest accuracy length), each paired
    with ``baseline`` on the problems both answered."""
    def best(res: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        t = max(res["direct_accuracy"], key=int)
        return t, res["direct_accuracy"][t]

    _, ref = best(evals[baseline])
    ref_by_id = dict(zip(ref["ids"], ref["correct"], strict=True))
    out = {}
    for name, res in evals.items():
        t, acc = best(res)
        shared = [(ref_by_id[i], c) for i, c in zip(acc["ids"], acc["correct"], strict=True)
                  if i in ref_by_id]
        entry = {"thought_tokens": int(t), "accuracy": acc["accuracy"], "ci95": acc["ci95"],
                 "n": acc["n"]}
        if name != baseline and shared:
            entry["vs_" + baseline] = compare_paired([float(a) for a, _ in shared],
                                                     [float(b) for _, b in shared])
        out[name] = entry
    return out


def plot_gain(result: dict[str, Any], path: str) -> None:
    """Answer-token log-likelihood gain (nats/token) vs thought length, with intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs, ys, lo, hi = [], [], [], []
    for t, e in sorted(result["by_length"].items(), key=lambda kv: int(kv[0])):
        g = e.get("gain_vs_0", {"diff": 0.0, "ci95": [0.0, 0.0]})
        xs.append(int(t))
        ys.append(g["diff"])
        lo.append(g["diff"] - g["ci95"][0])
        hi.append(g["ci95"][1] - g["diff"])
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("thought tokens")
    ax.set_ylabel("answer log-likelihood gain (nats/token)")
    ax.set_title(f"Quiet-STaR, {result['n_problems']} held-out problems")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
