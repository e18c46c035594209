"""Expert iteration — the "data flywheel": search makes data, data makes a better
searcher (Anthony et al. 2017, ExIt; Singh et al. 2023, ReST-EM; the AlphaGo analogy of
the o1 reports).

    for each round:
        run a test-time strategy (vote, best_of_n, beam, mcts...) on TRAIN problems
        every trace is checked by the task: the verifier judges the answer and the exact
        step checker labels each step
        -> SFT data: the best verified trace of each problem
        -> PRM data: the steps of every trace, verified or failed, with step labels and
           the outcome (JSONL: prompt, completion, steps, labels, outcome)
        retrain the policy on the SFT data (from the base, as ReST-EM does, or from
        the current policy); retrain the PRM on the PRM data when a PRM trainer is
        given — the new PRM then guides the next round's search
        evaluate the new policy on held-out TEST problems

Step labels follow PRM800K (Lightman et al. 2023), through ``ponder.train.prm
.exact_labels``: a step is positive while every step so far is correct, and the
answer line is positive only when the answer verifies.

"Best" verified trace: one whose every step the checker accepts, if any (a right
answer reached by wrong steps teaches wrong steps), then the highest strategy score
(PRM/ORM when the strategy used one), then the fewest tokens — among correct solutions,
the shortest teaches the least wandering.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ponder.errors import ConfigError, check_at_least
from ponder.lm.base import LM
from ponder.lm.reward import step_spans
from ponder.lm.template import prompt_for
from ponder.tasks.base import Problem, Task
from ponder.think import get_strategy
from ponder.think.base import Budget, Result, Scorers, StepScorer
from ponder.train.data import Example
from ponder.train.loop import TrainConfig
from ponder.train.policy import TrainablePolicy
from ponder.train.rewards import task_verifier, verifier_reward
from ponder.train.rollout import evaluate
from ponder.train.sft import finetune_policy
from ponder.train.state import STATE

#: (PRM records so far, the new policy, its tokenizer, output dir) -> a PRM for search
PRMTrainer = Callable[[list[dict[str, Any]], "TrainablePolicy", Path], StepScorer]


@dataclass
class FlywheelConfig:
    """One expert-iteration run.

    strategy / n / temperature / options: the test-time search run on train problems.
    problems / difficulty: TRAIN problems per task (the same set every round).
    from_base: retrain each round from the base model (ReST-EM) instead of the current.
    accumulate: train on the SFT data of every round so far, not only the latest.
    max_tokens: cap per completion.
    """

    rounds: int = 3
    strategy: str = "vote"
    n: int = 8
    temperature: float = 0.8
    max_tokens: int = 512
    options: dict[str, Any] = field(default_factory=dict)
    problems: int = 256
    difficulty: list[int] | None = None
    from_base: bool = True
    accumulate: bool = False
    eval_n: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        check_at_least(self, ("rounds", "n", "max_tokens", "problems"), 1, "flywheel")
        if self.eval_n < 0:
            raise ConfigError("flywheel: eval_n must be >= 0")
        get_strategy(self.strategy)  # unknown names fail before any work
        Budget(self.n, self.max_tokens, self.temperature, options=dict(self.options))


def label_traces(task: Task, problem: Problem, result: Result, verify, round_: int,
                 lm: LM | None = None) -> tuple[list[dict[str, Any]], Example | None]:
    """PRM records for every trace of one search, and the SFT example (the best
    verified trace) or None when no trace verified; prompts in ``lm``'s layout, the
    policy's that searched (None: ponder's raw one)."""
    from ponder.train.prm import exact_labels

    prompt = prompt_for(lm, problem.prompt)
    records, good = [], []
    texts = [t.completion for t in result.traces]
    verdicts = verifier_reward([problem] * len(texts), texts, verify)
    for t, verdict in zip(result.traces, verdicts, strict=True):
        labels, _ = exact_labels(task, problem, t.completion)
        outcome = float(verdict is not None and verdict >= 1.0)
        records.append({"round": round_, "problem": problem.to_dict(), "prompt": prompt,
                        "completion": t.completion,
                        "steps": [line for _, line in step_spans(t.completion)],
                        "labels": labels, "outcome": outcome, "score": t.score,
                        "tokens": t.tokens})
        if outcome:
            good.append((all(y > 0.5 for y in labels), t))
    if not good:
        return records, None
    _, best = max(good, key=lambda g: (g[0], g[1].score or 0.0, -g[1].tokens,
                                       -len(g[1].completion)))
    return records, Example(prompt, best.completion)


def search_round(lm, tasks: Sequence[Task], problems: Sequence[Problem], cfg: FlywheelConfig,
                 round_: int, prm: StepScorer | None = None,
                 ) -> tuple[list[Example], list[dict[str, Any]], dict[str, Any]]:
    """Run the strategy on every problem; returns (SFT examples, PRM records, stats)."""
    strategy = get_strategy(cfg.strategy)
    verify = task_verifier(tasks)
    by_name = {t.name: t for t in tasks}
    budget = Budget(cfg.n, cfg.max_tokens, cfg.temperature, options=dict(cfg.options))

    def visible_verify(problem: Problem, text: str) -> float | None:
        return verifier_reward([problem], [text], verify)[0]

    scorers = Scorers(verifier=visible_verify, prm=prm)
    sft: list[Example] = []
    records: list[dict[str, Any]] = []
    flops = 0.0
    for i, p in enumerate(problems):
        result = strategy(p, lm, budget, scorers, seed=cfg.seed + 7919 * round_ + i)
        flops += result.compute.flops
        recs, ex = label_traces(by_name[p.task], p, result, verify, round_, lm)
        records += recs
        if ex is not None:
            sft.append(ex)
    steps = [y for r in records for y in r["labels"]]
    stats = {"problems": len(problems), "solved": len(sft), "traces": len(records),
             "verified_traces": sum(r["outcome"] for r in records),
             "step_labels": len(steps), "positive_steps": sum(y > 0.5 for y in steps),
             "search_flops": flops}
    return sft, records, stats


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_flywheel(base: TrainablePolicy, tasks: Sequence[Task],
                 cfg: FlywheelConfig, train: TrainConfig, out: str | Path, *,
                 prm_trainer: PRMTrainer | None = None,
                 prm: StepScorer | None = None, progress: bool = True,
                 log: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """``cfg.rounds`` rounds of search -> data -> retraining. Round n writes
    ``out/round{n}/{sft,prm}.jsonl`` and its policy to ``out/round{n}/checkpoint``; one
    line per round goes to ``out/flywheel.jsonl``. Finished rounds are not redone."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    problems = [p for t in tasks for p in t.problems("train", cfg.problems, seed=cfg.seed,
                                                     difficulty=cfg.difficulty)]
    summary_path = out / "flywheel.jsonl"
    done = {r["round"]: r for r in read_jsonl(summary_path)} if summary_path.exists() else {}
    rows: list[dict[str, Any]] = []

    def record(row: dict[str, Any]) -> None:
        rows.append(row)
        if row["round"] not in done:
            with open(summary_path, "a") as f:
                f.write(json.dumps(row) + "\n")
        if log is not None:
            log(row)

    if 0 in done:
        record(done[0])
    else:
        acc, by_task = evaluate(base.lm(), tasks, cfg.eval_n, cfg.seed,
                                 cfg.difficulty) \
            if cfg.eval_n else (None, {})
        record({"round": 0, "accuracy": acc, "by_task": by_task})

    current = base
    all_sft: list[Example] = []
    all_prm: list[dict[str, Any]] = []
    for n in range(1, cfg.rounds + 1):
        rdir = out / f"round{n}"
        if n in done:
            current = base.reopen(rdir / "checkpoint")
            all_sft += [Example(r["prompt"], r["completion"])
                        for r in read_jsonl(rdir / "sft.jsonl")]
            all_prm += read_jsonl(rdir / "prm.jsonl")
            if prm_trainer is not None and (rdir / "prm").exists():
                from ponder.lm.reward import open_scorer

                prm = open_scorer(rdir / "prm")
            record(done[n])
            continue
        sft, prm_rows, stats = search_round(current.lm(), tasks, problems, cfg,
                                            n, prm)
        write_jsonl(rdir / "sft.jsonl", [asdict(e) for e in sft])
        write_jsonl(rdir / "prm.jsonl", prm_rows)
        all_sft += sft
        all_prm += prm_rows
        data = all_sft if cfg.accumulate else sft
        if not data:
            raise ConfigError(f"flywheel round {n}: no train problem was solved, so there is "
                              "nothing to learn from; use a stronger base, easier "
                              "--difficulty or a larger search budget (--n)")
        model = (base if cfg.from_base else current).copy()
        finetune_policy(model, data, train, rdir, resume=(rdir / STATE).exists(),
                        meta={"trainer": "flywheel", "round": n, "flywheel": asdict(cfg)},
                        progress=progress)
        model.module.eval()
        if prm_trainer is not None:  # the PRM learns from every round's traces so far
            prm = prm_trainer(all_prm, model, rdir / "prm")
        acc, by_task = evaluate(model.lm(), tasks, cfg.eval_n, cfg.seed,
                                 cfg.difficulty) \
            if cfg.eval_n else (None, {})
        record({"round": n, **stats, "sft_examples": len(data), "accuracy": acc,
                "by_task": by_task, "prm_trained": prm_trainer is not None})
        current = model
    return rows


def prm_trainer_from(cfg: Any) -> PRMTrainer:
    """The PRM hook backed by ``ponder.train.prm``: fit a reward model initialised from
    the new policy on the flywheel's labelled traces, save it, and score with it."""
    from ponder.lm.reward import save_scorer
    from ponder.train.prm import Sample, train_reward_model

    def train_prm(records: list[dict[str, Any]], policy: TrainablePolicy,
                  out: Path) -> StepScorer:
        samples = [Sample(Problem.from_dict(r["problem"]), r["completion"], r["labels"],
                          r["outcome"]) for r in records]
        scorer = train_reward_model(policy, samples, cfg)
        save_scorer(out, scorer, {"trainer": "flywheel-prm", "samples": len(samples)})
        return scorer

    return train_prm
