"""The evidence table: each published claim ponder sets out to show, the paper's number,
ponder's measurement with its 95% interval for every seed, and a verdict — all read from
the reports the recipes wrote, never typed in.

A claim is a list of tests; a test compares two arms of the same held-out problems,
paired (``ponder.eval.stats.compare_paired``), and says which way the paper expects arm
``b`` to differ from arm ``a``. An arm is a report and a label:

- a ``ponder scale`` report: ``strategy@budget`` (from ``<report>.records.jsonl``);
- a ``ponder eval --records`` file: label ``greedy``;
- a Quiet-STaR evaluation: ``nll@T``, the per-problem answer log-likelihood with
  thoughts of T tokens (a score, higher is better).

Per seed a test is ``reproduced`` (the interval of the difference excludes zero in the
expected direction), ``opposite`` (it excludes zero the other way) or ``no difference``;
across seeds the verdict is the common one, or ``not robust`` when the seeds disagree.
A test whose reports do not exist yet is ``not measured``; a claim whose tests disagree
is ``mixed``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ponder.eval.stats import compare_paired

SEEDS = (0, 1)
EVIDENCE = "evidence.json"  # the table as JSON, beside reports/README.md
OPPOSITE = {"better": "worse", "worse": "better"}


@dataclass(frozen=True)
class Check:
    what: str
    a: tuple[str, str]  # (report name, "{seed}" filled in; arm label)
    b: tuple[str, str]
    expect: str = "better"  # how the paper says b differs from a
    levels: tuple[int, ...] | None = None  # only problems of these levels


@dataclass(frozen=True)
class Claim:
    key: str
    claim: str
    paper: str
    tests: tuple[Check, ...]
    recipe: str
    figure: str | None = None  # report name of the figure (``<name>.png``)


def _e(stage: str) -> str:
    return f"edge_chain_{stage}_s{{seed}}" if stage else "edge_chain_s{seed}"


_CD = "edge_countdown_s{seed}"  # the current bundled reasoner's edge (countdown level 3)
_CDB = "edge_countdown_budget_s{seed}"


def _vs(model: str, label: str) -> tuple[str, str]:
    return (f"versus_chain_{model}_s{{seed}}", label)


def _qs(model: str, label: str) -> tuple[str, str]:
    # recipes/quiet_star.sh names seed 0's reports without a suffix, later seeds' _s<seed>
    return (f"quiet_star_eval_{model}{{sfx}}", label)


def _learn(arm: str) -> tuple[str, str]:
    return (f"learn_edge_chain_{arm}_s{{seed}}", "greedy")


CLAIMS: tuple[Claim, ...] = (
    Claim("1", "accuracy rises with test-time compute, per strategy",
          "o1: pass@1 rises log-linearly with test-time compute", (
              Check("vote 1 -> 16 samples", (_e(""), "vote@1"), (_e(""), "vote@16")),
              Check("the current reasoner, countdown level 3: vote 1 -> 16 samples",
                    (_CD, "vote@1"), (_CD, "vote@16")),
              Check("the current reasoner, countdown level 3: vote@16 vs greedy",
                    (_CD, "greedy@1"), (_CD, "vote@16")),
              Check("PRM best-of-N 4 -> 16", (_e("select"), "prm@4"), (_e("select"), "prm@16")),
              Check("beam 4 -> 16", (_e("search"), "beam@4"), (_e("search"), "beam@16")),
              Check("MCTS 4 -> 16", (_e("search"), "mcts@4"), (_e("search"), "mcts@16")),
              Check("revisions 1 -> 16", (_e("revise"), "revise@1"), (_e("revise"), "revise@16")),
              Check("agents 1 -> 16", (_e("agents"), "agents@1"), (_e("agents"), "agents@16")),
              Check("agents vs vote at 16", (_e(""), "vote@16"), (_e("agents"), "agents@16")),
              Check("revisions vs the reviser's vote at 16", (_e("revise"), "vote@16"),
                    (_e("revise"), "revise@16")),
              Check("revisions as 4 chains of 4 vs one chain of 16",
                    (_e("revise"), "revise@16"), (_e("revise_split"), "revise@16")),
              Check("4 chains of 4 revisions vs the reviser's vote at 16",
                    (_e("revise"), "vote@16"), (_e("revise_split"), "revise@16"))),
          "test_time/edge.sh", "edge_chain_s0"),
    Claim("2", "PRM > ORM > majority vote at equal samples",
          "Lightman et al. 2023: 78.2% vs 72.4% vs 69.6% (MATH, best-of-1860)", (
              Check("PRM vs ORM, weighted, N=16", (_e("aggregate"), "orm_w@16"),
                   (_e("select"), "prm@16")),
              Check("ORM vs vote, weighted, N=16", (_e("aggregate"), "vote@16"),
                   (_e("aggregate"), "orm_w@16"))),
          "test_time/edge.sh", "edge_chain_select_s0"),
    Claim("3", "compute-optimal allocation by difficulty beats best-of-N",
          "Snell et al. 2024: the same accuracy with >4x less compute", (
              Check("optimal vs PRM best-of-N, N=16", (_e("optimal"), "best_of_n@16"),
                   (_e("optimal"), "optimal@16")),
              Check("optimal at 4 vs best-of-N at 16", (_e("optimal"), "best_of_n@16"),
                   (_e("optimal"), "optimal@4"), "no difference")),
          "test_time/edge.sh", "edge_chain_optimal_s0"),
    Claim("4", "beam search beats best-of-N on hard problems at low budgets",
          "Snell et al. 2024: beam ahead at low budgets on harder levels", (
              Check("beam vs best-of-N, N=4, level 3", (_e("search"), "best_of_n@4"),
                   (_e("search"), "beam@4"), levels=(3,)),
              Check("beam vs best-of-N, N=16, level 2", (_e("search"), "best_of_n@16"),
                   (_e("search"), "beam@16"), "worse", levels=(2,))),
          "test_time/edge.sh", "edge_chain_search_s0"),
    Claim("5", "a small model with search beats a ~10x larger model's greedy answers at "
          "equal FLOPs", "Snell et al. 2024: beats a 14x larger model on easy and medium "
          "questions", (
              Check("small greedy vs large greedy (the larger is stronger)",
                    _vs("large", "greedy@1"), _vs("small", "greedy@1"), "worse"),
              Check("small vote@16 (1.01x the FLOPs) vs large greedy, chain 1-3",
                    _vs("large", "greedy@1"), _vs("small", "vote@16")),
              Check("the same, level 1 (easy)", _vs("large", "greedy@1"),
                    _vs("small", "vote@16"), levels=(1,)),
              Check("the same, level 2 (medium)", _vs("large", "greedy@1"),
                    _vs("small", "vote@16"), levels=(2,))),
          "test_time/versus.sh", "versus_chain_small_s0"),
    Claim("6", "longer thinking gives better answers (budget forcing)",
          "Muennighoff et al. 2025 (s1): AIME24 50.0% -> 56.7% with 'Wait'", (
              Check("thinking cap 16 -> 128 tokens", (_e("budget"), "cap@16"),
                   (_e("budget"), "cap@128")),
              Check("'Wait' extension vs cap, 64 tokens", (_e("budget"), "cap@64"),
                   (_e("budget"), "wait@64")),
              Check("the current reasoner, countdown level 3: cap 32 -> 384 tokens",
                    (_CDB, "cap@32"), (_CDB, "cap@384")),
              Check("the current reasoner, countdown level 3: 'Wait' vs cap, 256 tokens",
                    (_CDB, "cap@256"), (_CDB, "wait@256"))),
          "test_time/edge.sh", "edge_chain_budget_s0"),
    Claim("7", "chain of thought beats direct answers on serial problems (perm)",
          "Li et al. 2024: constant-depth transformers need CoT for permutation composition",
          (Check("CoT vs direct, perm", ("cot_direct_perm_s{seed}", "direct@1"),
                ("cot_direct_perm_s{seed}", "greedy@1")),),
          "test_time/cot_direct.sh", "cot_direct_perm_s0"),
    Claim("8", "STaR improves over rounds; rationalization adds more",
          "Zelikman et al. 2022: 60.0 (direct fine-tuning) -> 68.8 -> 72.5 (CommonsenseQA)", (
              Check("STaR (no rationalization) vs base", _learn("base"), _learn("star_norat")),
              Check("STaR (with rationalization) vs base", _learn("base"), _learn("star_rat")),
              Check("with vs without rationalization", _learn("star_norat"),
                   _learn("star_rat"))),
          "learning/edge.sh"),
    Claim("9", "RL finds better chains of thought than continued SFT on teacher traces",
          "OpenAI o1; controlled studies find RL gains at the edge of competence", (
              Check("RL vs base", _learn("base"), _learn("rl")),
              Check("RL vs SFT, equal steps and tokens", _learn("sft"), _learn("rl"))),
          "learning/edge.sh"),
    Claim("10", "the data flywheel (search traces -> SFT) improves the policy over rounds",
          "expert iteration (e.g. ReST-EM): gains over the first rounds", (
              Check("flywheel round 1 vs base", _learn("base"), _learn("flywheel_r1")),
              Check("round 2 vs round 1", _learn("flywheel_r1"), _learn("flywheel"))),
          "learning/edge.sh"),
    Claim("11", "coverage (pass@k) grows as a power law in samples",
          "Brown et al. 2024: exponentiated power law fits coverage", (),
          "test_time/edge.sh", "edge_chain_s0"),
    Claim("12", "training on search traces with dead ends beats optimal paths only",
          "Gandhi et al. 2024 (Stream of Search): +25% on countdown",
          (Check("search traces vs optimal paths, countdown 1-3, equal tokens",
                 ("sos_countdown_optimal_s{seed}", "greedy"),
                 ("sos_countdown_search_s{seed}", "greedy")),),
          "learning/search_traces.sh"),
    Claim("Q", "Quiet-STaR: thoughts before each token raise the answer's likelihood",
          "Zelikman et al. 2024: gains grow with thought length", (
              Check("8 thought tokens vs none (answer log-lik.)",
                   _qs("quiet", "nll@0"), _qs("quiet", "nll@8")),
              Check("Quiet-STaR vs pause tokens, 8 tokens", _qs("pause", "nll@8"),
                   _qs("quiet", "nll@8")),
              Check("REINFORCE weighted 1e6 (the reference code's) vs 1, 8 thought tokens",
                   _qs("quiet", "nll@8"), _qs("quiet_rw", "nll@8"))),
          "quiet_star.sh", "quiet_star_gain"),
)


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def arm_outcomes(directory: Path, report: str, label: str,
                 levels: tuple[int, ...] | None = None) -> dict[str, float] | None:
    """Per-problem outcome (1/0, or a score) of one arm, by problem id; None when the
    report or the arm is not there."""
    records = directory / f"{report}.records.jsonl"
    out: dict[str, float] = {}
    if records.is_file():  # a `ponder scale` report
        for line in records.read_text().splitlines():
            r = json.loads(line)
            if f"{r['strategy']}@{r['budget']}" == label and \
                    (levels is None or r.get("difficulty") in levels):
                out[r["problem"]] = float(r["correct"])
        return out or None
    data = _load_json(directory / f"{report}.json")
    if data is None:
        return None
    if label == "greedy" and "records" in data:  # `ponder eval --records`
        return {r["id"]: float(r["correct"]) for r in data["records"]
                if levels is None or r.get("difficulty") in levels} or None
    if label.startswith("nll@"):  # a Quiet-STaR evaluation: per-problem answer log-lik.
        by_length = (data.get("results", data).get("loglik") or {}).get("by_length") or {}
        scores = (by_length.get(label[4:]) or {}).get("per_problem")
        return {str(i): s for i, s in enumerate(scores)} if scores else None
    return None


def run_test(directory: Path, test: Check, seed: int) -> dict[str, Any] | None:
    names = {"seed": seed, "sfx": f"_s{seed}" if seed else ""}
    a = arm_outcomes(directory, test.a[0].format(**names), test.a[1], test.levels)
    b = arm_outcomes(directory, test.b[0].format(**names), test.b[1], test.levels)
    if not a or not b:
        return None
    common = sorted(set(a) & set(b), key=str)
    if not common:
        return None
    res = compare_paired([a[i] for i in common], [b[i] for i in common])
    return {"seed": seed, **res, "outcome": outcome(res["verdict"], test.expect)}


def outcome(verdict: str, expect: str) -> str:
    """A paired verdict of b vs a read against the paper's expectation.

    >>> outcome("better", "better"), outcome("worse", "better"), outcome("no difference", "worse")
    ('reproduced', 'opposite', 'no difference')
    >>> outcome("no difference", "no difference"), outcome("better", "no difference")
    ('reproduced', 'better than claimed')
    """
    if expect == "no difference":
        return {"no difference": "reproduced", "better": "better than claimed"}.get(
            verdict, "opposite")
    return ("reproduced" if verdict == expect else
            "opposite" if verdict == OPPOSITE[expect] else "no difference")


def combine(outcomes: list[str]) -> str:
    """One verdict over the seeds measured."""
    if not outcomes:
        return "not measured"
    if len(set(outcomes)) > 1:
        return "not robust"
    return outcomes[0] + ("" if len(outcomes) > 1 else " (one seed)")


def coverage_fit(directory: Path) -> list[dict[str, Any]]:
    out = []
    for seed in SEEDS:
        data = _load_json(directory / f"edge_chain_s{seed}.json")
        fit = ((data or {}).get("results", {}).get("coverage") or {}).get("fit")
        if fit:
            out.append({"seed": seed, **fit})
    return out


def evaluate_claims(directory: Path, claims: tuple[Claim, ...] = CLAIMS
                    ) -> list[dict[str, Any]]:
    """Every claim with its tests' per-seed results and verdicts."""
    rows = []
    for c in claims:
        tests = []
        for t in c.tests:
            per_seed = "{seed}" in t.a[0] + t.b[0] or "{sfx}" in t.a[0] + t.b[0]
            seeds = [r for s in (SEEDS if per_seed else (0,))
                     if (r := run_test(directory, t, s)) is not None]
            tests.append({"what": t.what, "a": t.a, "b": t.b, "expect": t.expect,
                          "levels": t.levels, "seeds": seeds,
                          "verdict": combine([r["outcome"] for r in seeds])})
        row: dict[str, Any] = {"key": c.key, "claim": c.claim, "paper": c.paper,
                               "recipe": c.recipe, "tests": tests}
        if c.key == "11":
            fits = coverage_fit(directory)
            row["fits"] = fits
            row["verdict"] = combine(["reproduced" if f["r2"] >= 0.95 else "no difference"
                                      for f in fits])
        else:
            verdicts = {t["verdict"].removesuffix(" (one seed)") for t in tests}
            row["verdict"] = (verdicts.pop() if len(verdicts) == 1 else "mixed") \
                if tests else "not measured"
        if c.figure and (directory / f"{c.figure}.png").is_file():
            row["figure"] = f"{c.figure}.png"
        if (directory / figure_name(c.key)).is_file():
            row["differences"] = figure_name(c.key)
        rows.append(row)
    return rows


def figure_name(key: str) -> str:
    return f"evidence_{key}.png"


def plot_differences(row: dict[str, Any], path: Path) -> Path | None:
    """A forest plot of one claim: each test's paired difference (b - a) with its 95%
    interval, one marker per seed, against zero; green where the paper's direction is
    reproduced, red where the opposite, grey otherwise. None when nothing is measured."""
    tests = [t for t in row["tests"] if t["seeds"]]
    if not tests:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colour = {"reproduced": "tab:green", "opposite": "tab:red"}
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * sum(len(t["seeds"]) for t in tests) + 1.2))
    y, ticks, labels = 0, [], []
    for t in reversed(tests):
        for r in reversed(t["seeds"]):
            lo, hi = r["ci95"]
            ax.errorbar(r["diff"], y, xerr=[[r["diff"] - lo], [hi - r["diff"]]], fmt="o",
                        color=colour.get(r["outcome"], "tab:grey"), capsize=3)
            ticks.append(y)
            labels.append(f"{t['what']} (s{r['seed']}, n={r['n']})")
            y += 1
        y += 0.5
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(ticks, labels, fontsize=7)
    ax.set_xlabel("paired difference b - a, 95% interval")
    ax.set_title(f"claim {row['key']}: {row['claim']}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _cell(test: dict[str, Any]) -> str:
    if not test["seeds"]:
        return f"{test['what']}: not measured"
    parts = [f"s{r['seed']} {r['diff']:+.3f} [{r['ci95'][0]:+.3f}, {r['ci95'][1]:+.3f}]"
             f" n={r['n']}" for r in test["seeds"]]
    return f"{test['what']}: {'; '.join(parts)} → **{test['verdict']}**"


def render_table(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown lines of the evidence table."""
    out = ["## Evidence: the claims, measured", "",
           "Each test pairs two arms on the same held-out problems (chain levels 2-3, the "
           "bundled reasoner's edge of competence, unless named): the difference b - a "
           "with its 95% paired-bootstrap interval, per seed. Generated from the reports "
           "below by `ponder report` (`ponder.eval.claims`).", "",
           "| # | claim | paper | ponder | verdict | recipe |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r["key"] == "11" and r.get("fits"):
            cells = "; ".join(f"s{f['seed']} r²={f['r2']:.3f}" for f in r["fits"])
        else:
            cells = "<br>".join(_cell(t) for t in r["tests"]) or "not measured"
        fig = f" ([figure]({r['figure']}))" if r.get("figure") else ""
        if r.get("differences"):
            fig += f" ([differences]({r['differences']}))"
        recipe = f"`recipes/{r['recipe']}`" if r["recipe"] else "—"
        out.append(f"| {r['key']} | {r['claim']}{fig} | {r['paper']} | {cells} | "
                   f"{r['verdict']} | {recipe} |")
    return out + [""]
