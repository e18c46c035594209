"""Held-out accuracy: greedy answers to TEST problems, verified, broken down by difficulty.

Everything goes through the LM protocol (batched ``generate`` at temperature 0), so the
same function scores the built-in model, a Hugging Face model or a remote server, and
the trainers reuse it for their periodic evaluation. Each question is asked in the
model's own layout (``prompt_for``: an instruct model's chat template, else the raw one).

A chain-of-thought completion counts only if the model closed its thinking and wrote an
answer after it (thinking that runs out of budget is not an answer); a direct
completion is the answer line itself.

Accuracy is the fraction of problems solved outright (a verdict of 1.0), with its 95%
Wilson interval; a task that gives partial credit (reasoning-gym scorers) also gets its
mean ``score``, which is never reported as an accuracy.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ponder.errors import InvalidInput
from ponder.eval.stats import wilson
from ponder.lm.base import LM, Completion
from ponder.lm.batching import map_ordered, shared
from ponder.lm.template import THINK_CLOSE, format_completion, prompt_for, split_thinking
from ponder.tasks.base import Problem, Task

DIRECT = "direct"


@dataclass
class AccuracyReport:
    """Greedy accuracy of one model on one task's held-out split."""

    task: str
    accuracy: float
    n: int
    by_difficulty: dict[str, float]  # difficulty (as a string, for JSON) -> accuracy
    n_by_difficulty: dict[str, int]
    ci95: list[float] = field(default_factory=lambda: [0.0, 1.0])  # Wilson, of accuracy
    ci95_by_difficulty: dict[str, list[float]] = field(default_factory=dict)
    # mean verdict (no answer = 0), only when some verdict was partial credit (0 < v < 1)
    score: float | None = None
    score_by_difficulty: dict[str, float] | None = None
    answer_rule: str = "answer-line"  # how the task read the answers (Task.answer_rule)
    direct: bool = False  # answered with no chain of thought
    answered: float = 0.0  # fraction of completions with an extractable answer
    mean_tokens: float = 0.0  # generated tokens per problem
    seconds: float = 0.0  # wall time of the generation pass (shared by the tasks in it)
    records: list[dict[str, Any]] = field(default_factory=list)  # one per problem

    def to_dict(self, records: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not records:
            d.pop("records")
        return d


def check_direct(task: Task, direct: bool) -> None:
    if direct and DIRECT not in task.styles:
        raise InvalidInput(f"task {task.name!r} has no direct (no chain-of-thought) format; "
                           f"its styles are {list(task.styles)}; drop --direct")


def judge(task: Task, problem: Problem, completion: str, think: bool = True) -> float | None:
    """The task's verdict on a completion (None: no answer). With thinking, only the
    text after the closing marker is read, so an answer inside the thoughts is no answer."""
    if think:
        if THINK_CLOSE not in completion:
            return None
        _, visible = split_thinking(completion)
        return task.verify(problem, visible) if visible else None
    return task.verify(problem, completion)


def token_budgets(task: Task, lm: LM, direct: bool = False, seed: int = 0, sample: int = 16,
                  slack: float = 1.5) -> dict[int, int]:
    """Generation cap per difficulty: ``slack`` times the longest teacher completion of a
    few TRAIN problems at that level (plus a margin), so a model that fails to stop wastes
    bounded time, while one that writes like the teacher is never cut short. The teacher
    writes in the style the model was trained on (``lm.trace_styles``, where a backend
    knows it; a variant such as ``arith:mul`` falls back to its family's), else in the
    task's default."""
    trained = getattr(lm, "trace_styles", {})
    style = DIRECT if direct else trained.get(
        task.name, trained.get(task.name.partition(":")[0], task.styles[0]))
    if style not in task.styles:
        style = task.styles[0]
    caps = {}
    for d in range(task.min_difficulty, task.max_difficulty + 1):
        longest = max((lm.count_tokens(format_completion(task.teacher_trace(p, style),
                                                         not direct))
                       for p in task.problems("train", sample, seed=seed, difficulty=d)),
                      default=64)
        caps[d] = int(longest * slack) + 16
    return caps


def greedy_texts(lm: LM, prompts: list[str], limits: list[int], batch_size: int = 64,
                 seed: int = 0, progress: bool = False, label: str = "",
                 concurrency: int = 4, longest_first: bool = False) -> list[Completion]:
    """Greedy completions of ``prompts`` in calls of ``batch_size``, in input order.

    ``concurrency`` calls are in flight at once, so the model's engine (or the batcher
    of another backend) refills a row as soon as one finishes instead of waiting for a
    call's longest completion. Prompts with similar caps and lengths go together, the
    smallest caps first, or the largest with ``longest_first`` (so that the last calls
    are short ones; measured no faster on ``ponder eval``'s mix,
    ``reports/engine_eval_order.json``)."""
    order = sorted(range(len(prompts)), key=lambda i: (limits[i], len(prompts[i])),
                   reverse=longest_first)
    chunks = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    out: list[Completion | None] = [None] * len(prompts)
    model = shared(lm) if concurrency > 1 else lm

    def run(chunk: list[int]) -> list[list[Completion]]:
        return model.generate([prompts[i] for i in chunk], n=1,
                              max_tokens=[limits[i] for i in chunk], temperature=0.0,
                              seed=seed)

    try:
        with _bar(progress, label, len(prompts)) as bar:
            for chunk, gens in zip(chunks, map_ordered(run, chunks, concurrency), strict=True):
                for i, [c] in zip(chunk, gens, strict=True):
                    out[i] = c
                bar.advance(len(chunk))
    finally:
        if model is not lm:
            model.close()  # type: ignore[attr-defined]  # a BatchedLM's thread
    return out  # type: ignore[return-value]  # every slot is filled


def evaluate_tasks(lm: LM, tasks: Sequence[Task], n: int, *, seed: int = 0,
                   difficulty: int | Sequence[int] | None = None, direct: bool = False,
                   max_tokens: int | None = None, batch_size: int = 64,
                   progress: bool = False, keep_records: bool = False,
                   longest_first: bool = False) -> dict[str, AccuracyReport]:
    """Greedy accuracy on ``n`` TEST problems of each task (levels cycled as in
    ``Task.problems``), keyed by task name. All tasks share one batched generation pass.
    ``max_tokens`` caps every completion; by default the caps come from ``token_budgets``.
    ``longest_first``: the order problems are generated in (``greedy_texts``); the
    results do not depend on it.
    """
    if n < 1:
        raise InvalidInput(f"n must be >= 1, got {n}")
    if batch_size < 1:
        raise InvalidInput(f"batch size must be >= 1, got {batch_size}")
    for task in tasks:
        check_direct(task, direct)
    levels = difficulty if difficulty is None or isinstance(difficulty, int) else list(difficulty)
    think = not direct
    jobs = []  # (task, problem, prompt, cap)
    for task in tasks:
        caps = token_budgets(task, lm, direct, seed) if max_tokens is None else {}
        for p in task.problems("test", n, seed=seed, difficulty=levels):
            jobs.append((task, p, prompt_for(lm, p.prompt, think),
                         max_tokens or caps[p.difficulty]))
    t0 = time.perf_counter()
    label = ",".join(t.name for t in tasks) + (" (direct)" if direct else "")
    outs = greedy_texts(lm, [j[2] for j in jobs], [j[3] for j in jobs], batch_size, seed,
                        progress, label, longest_first=longest_first)
    seconds = time.perf_counter() - t0
    return {task.name: _report(task, [(j[1], c) for j, c in zip(jobs, outs, strict=True)
                                      if j[0] is task], think, seconds, keep_records)
            for task in tasks}


def evaluate_task(lm: LM, task: Task, n: int, **kw: Any) -> AccuracyReport:
    """``evaluate_tasks`` for one task."""
    return evaluate_tasks(lm, [task], n, **kw)[task.name]


def _ci(k: int, n: int) -> list[float]:
    return [round(x, 4) for x in wilson(k, n)]


def _report(task: Task, done: list[tuple[Problem, Completion]], think: bool, seconds: float,
            keep_records: bool) -> AccuracyReport:
    scores: dict[str, list[float]] = defaultdict(list)  # per level; no answer scores 0
    records, answered = [], 0
    for p, c in done:
        text, ntok = c.text, c.tokens
        verdict = judge(task, p, text, think)
        answered += verdict is not None
        scores[str(p.difficulty)].append(float(verdict or 0.0))
        if keep_records:  # correct means solved outright, never partial credit
            records.append({"id": p.id, "difficulty": p.difficulty,
                            "correct": verdict == 1.0, "score": verdict, "tokens": ntok,
                            "completion": text})
    n = len(done)
    keys = sorted(scores, key=float)
    right = {k: sum(s == 1.0 for s in scores[k]) for k in keys}
    partial = any(0.0 < s < 1.0 for v in scores.values() for s in v)
    return AccuracyReport(
        task=task.name,
        accuracy=sum(right.values()) / max(n, 1),
        n=n,
        by_difficulty={k: right[k] / len(scores[k]) for k in keys},
        n_by_difficulty={k: len(scores[k]) for k in keys},
        ci95=_ci(sum(right.values()), n),
        ci95_by_difficulty={k: _ci(right[k], len(scores[k])) for k in keys},
        score=sum(map(sum, scores.values())) / max(n, 1) if partial else None,
        score_by_difficulty={k: sum(scores[k]) / len(scores[k]) for k in keys}
        if partial else None,
        answer_rule=task.answer_rule,
        direct=not think,
        answered=answered / max(n, 1),
        mean_tokens=sum(c.tokens for _, c in done) / max(n, 1),
        seconds=round(seconds, 2),
        records=records,
    )


def mean_accuracy(reports: dict[str, AccuracyReport]) -> float:
    """Unweighted mean over tasks, so a task's weight does not depend on its n."""
    return sum(r.accuracy for r in reports.values()) / max(len(reports), 1)


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def advance(self, k: int) -> None:
        pass


class _Bar(_NoBar):
    def __init__(self, label: str, total: int):
        self.progress = Progress(TextColumn(f"[bold]eval {label}"), BarColumn(),
                                 MofNCompleteColumn(), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=True)
        self.task = self.progress.add_task(label, total=total)

    def __enter__(self) -> _Bar:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def advance(self, k: int) -> None:
        self.progress.advance(self.task, k)


def _bar(enabled: bool, label: str, total: int) -> _NoBar:
    return _Bar(label, total) if enabled else _NoBar()
