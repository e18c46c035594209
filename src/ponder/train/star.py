"""STaR, the Self-Taught Reasoner (Zelikman et al. 2022, Algorithm 1).

    M_0 = base
    for n in 1..R:
        sample rationales from M_{n-1} on the train problems; keep those whose answer
            verifies                                             (§3.1, rationale generation)
        for each problem still unsolved, show the correct answer as a hint, sample a
            rationale that reaches it, keep it *without* the hint if it verifies
                                                                 (§3.2, rationalization)
        M_n = fine-tune the ORIGINAL base on the kept set        (fine-tuning from M_0
            each round avoids overfitting, §3.3)
        evaluate M_n on held-out TEST problems

Where we depart from the paper:
- The paper prompts GPT-J with few-shot rationales; ponder's base is a small model
  seeded by SFT on a few teacher traces (``ponder.train.seed``). The hint prompt
  (``hint_question``) is therefore a format the seed saw on a share of its examples, in
  place of few-shot examples with hints.
- The paper decodes greedily; we sample ``samples`` rationales per problem at
  ``temperature`` and keep up to ``keep_per_problem`` distinct verified ones.
- A completion counts only if it closed its thinking, answered after it, and stopped by
  itself (a verified answer followed by a runaway continuation is not kept).
- Fine-tuning steps grow by ``step_growth`` each round, as the paper's 40 steps grow by
  20% per outer loop.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ponder.errors import ConfigError, check_at_least
from ponder.lm.base import LM
from ponder.lm.template import prompt_for, thinking_steps
from ponder.tasks.base import Problem, Task
from ponder.train.data import Example
from ponder.train.loop import TrainConfig
from ponder.train.policy import TrainablePolicy
from ponder.train.rewards import Verifier, task_verifier, verifier_reward
from ponder.train.rollout import caps_for, evaluate, generate_batched
from ponder.train.sft import finetune_policy
from ponder.train.state import STATE

HINT_PREFIX = "Hint: the answer is "


def hint_question(question: str, answer: str) -> str:
    """The question with the correct answer given as a hint on a line of its own.

    >>> hint_question("Sum 3 4", "7")
    'Sum 3 4\\nHint: the answer is 7'
    """
    return f"{question}\n{HINT_PREFIX}{answer}"


def strip_hint(question: str) -> str:
    """Inverse of ``hint_question`` (a question without a hint is returned unchanged).

    >>> strip_hint(hint_question("Sum 3 4", "7"))
    'Sum 3 4'
    """
    head, sep, tail = question.rpartition(f"\n{HINT_PREFIX}")
    return head if sep and "\n" not in tail else question


def hint_prompt(problem: Problem, lm: LM | None = None) -> str:
    """The rationalization prompt: the thinking prompt of the hinted question, in ``lm``'s
    layout (``prompt_for``; without a model, ponder's raw one)."""
    return prompt_for(lm, hint_question(problem.prompt, problem.answer))


@dataclass
class Kept:
    """One verified rationale, as the training example it becomes (hint removed)."""

    problem: Problem
    completion: str
    rationalized: bool  # found with the hint

    def example(self, lm: LM | None = None) -> Example:
        """The example in the layout of ``lm``, the model it will train (None: ponder's
        raw layout, e.g. for a fresh student of distillation)."""
        return Example(prompt_for(lm, self.problem.prompt), self.completion)


@dataclass
class Collected:
    kept: list[Kept]
    solved: int  # problems with a verified rationale found without a hint
    rationalized: int  # further problems solved only with the hint
    problems: int

    def stats(self) -> dict[str, Any]:
        return {"problems": self.problems, "solved": self.solved,
                "rationalized": self.rationalized, "kept": len(self.kept),
                "train_solve_rate": round(self.solved / max(self.problems, 1), 4)}


#: (problem, step lines) -> which steps are right (``Task.check_steps``)
StepCheck = Callable[[Problem, list[str]], list[bool]]


def _verified(problems: Sequence[Problem], rows: list[list], verify: Verifier, keep: int,
              check: StepCheck | None = None) -> list[list[str]]:
    """Per problem, up to ``keep`` distinct completions that verify and stopped (and,
    with ``check``, whose every thinking step is right)."""
    out = []
    for problem, row in zip(problems, rows, strict=True):
        scores = verifier_reward([problem] * len(row), [c.text for c in row], verify)
        good: list[str] = []
        for c, s in zip(row, scores, strict=True):
            if s is None or s < 1.0 or c.finish_reason == "length" or c.text in good:
                continue
            if check is not None and not all(check(problem, thinking_steps(c.text))):
                continue
            good.append(c.text)
        out.append(good[:keep])
    return out


def collect_rationales(lm: LM, problems: Sequence[Problem], verify: Verifier,
                       max_tokens: Sequence[int], *, samples: int = 1,
                       temperature: float = 0.7, rationalize: bool = True,
                       keep_per_problem: int = 1, seed: int = 0, batch_size: int = 64,
                       check: StepCheck | None = None) -> Collected:
    """Steps 1-3 of a STaR round: rationales, filtered by the verifier (and the step
    checker ``check`` if given), then rationalization of the failures. Returned examples
    never contain the hint."""
    plain = [prompt_for(lm, p.prompt) for p in problems]
    rows = generate_batched(lm, plain, samples, max_tokens, temperature, seed, batch_size)
    good = _verified(problems, rows, verify, keep_per_problem, check)
    kept = [Kept(p, c, False) for p, cs in zip(problems, good, strict=True) for c in cs]
    solved = sum(bool(cs) for cs in good)
    n_rat = 0
    failed = [i for i, cs in enumerate(good) if not cs]
    if rationalize and failed:
        hinted = [hint_prompt(problems[i], lm) for i in failed]
        limits = [max_tokens[i] for i in failed]
        rows = generate_batched(lm, hinted, samples, limits, temperature, seed + 1, batch_size)
        fixed = _verified([problems[i] for i in failed], rows, verify, keep_per_problem,
                          check)
        for i, cs in zip(failed, fixed, strict=True):
            kept.extend(Kept(problems[i], c, True) for c in cs)
            n_rat += bool(cs)
    return Collected(kept, solved, n_rat, len(problems))


@dataclass
class StarConfig:
    """One STaR run.

    rounds: outer loops (the paper runs until accuracy plateaus).
    problems: TRAIN problems per task, drawn once (the same set every round).
    difficulty: levels the problems are drawn from (None: every level).
    samples / temperature / keep_per_problem: rationale sampling (see module notes).
    rationalize: show the answer as a hint for failures (False: the paper's ablation).
    check_steps: also require every thinking step to pass the task's exact step checker
        (not in the paper, whose tasks have none: a right answer reached by wrong steps
        is otherwise kept and taught).
    step_growth: fine-tuning steps multiply by this each round.
    eval_n: TEST problems per task for the greedy accuracy after each round.
    token_slack: generation cap = slack x the longest teacher trace at that level.
    """

    rounds: int = 3
    problems: int = 256
    difficulty: list[int] | None = None
    samples: int = 4
    temperature: float = 0.7
    keep_per_problem: int = 1
    rationalize: bool = True
    check_steps: bool = False
    step_growth: float = 1.2
    eval_n: int = 64
    token_slack: float = 1.5
    batch_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        check_at_least(self, ("rounds", "problems", "samples", "keep_per_problem", "batch_size"),
                       1, "star")
        if self.temperature < 0 or self.eval_n < 0:
            raise ConfigError("star: temperature and eval_n must be >= 0")
        if self.step_growth < 1.0:
            raise ConfigError(f"star: step_growth must be >= 1, got {self.step_growth}")


@dataclass
class RoundResult:
    round: int
    steps: int  # fine-tuning steps of this round (0: not fine-tuned)
    collected: dict[str, Any] = field(default_factory=dict)
    accuracy: float | None = None
    by_task: dict[str, float] = field(default_factory=dict)


def step_check(tasks: Sequence[Task]) -> StepCheck:
    """``Task.check_steps`` of each problem's own task."""
    by_name = {t.name: t for t in tasks}
    return lambda problem, steps: by_name[problem.task].check_steps(problem, steps)


def run_star(base: TrainablePolicy, tasks: Sequence[Task], cfg: StarConfig,
             train: TrainConfig, out: str | Path, *,
             log: Callable[[dict[str, Any]], None] | None = None,
             progress: bool = True) -> list[RoundResult]:
    """Run ``cfg.rounds`` STaR rounds from ``base`` (the built-in model or a transformers
    one, ``ponder.train.policy``); round n's model is saved under
    ``out/round{n}/checkpoint`` and one JSON line per round is appended to
    ``out/star.jsonl``. A round already recorded there is reloaded, not redone."""
    if train.steps is None:
        raise ConfigError("star: give fine-tuning steps (the budget grows per round)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    verify = task_verifier(tasks)
    problems = [p for t in tasks for p in t.problems("train", cfg.problems, seed=cfg.seed,
                                                     difficulty=cfg.difficulty)]
    caps = caps_for(base.lm(), tasks, problems, cfg.token_slack, cfg.seed)
    history = _read_history(out)
    results: list[RoundResult] = []

    def record(r: RoundResult) -> None:
        results.append(r)
        if r.round not in history:
            with open(out / "star.jsonl", "a") as f:
                f.write(json.dumps(asdict(r)) + "\n")
        if log is not None:
            log(asdict(r))

    if 0 in history:
        record(RoundResult(**history[0]))
    else:
        acc, by_task = evaluate(base.lm(), tasks, cfg.eval_n, cfg.seed,
                                 cfg.difficulty) \
            if cfg.eval_n else (None, {})
        record(RoundResult(0, 0, {}, acc, by_task))

    current = base
    for n in range(1, cfg.rounds + 1):
        steps = round(train.steps * cfg.step_growth ** (n - 1))
        run_dir = out / f"round{n}"
        if n in history:  # finished earlier: reuse its model
            if history[n]["steps"]:
                current = base.reopen(run_dir / "checkpoint")
            record(RoundResult(**history[n]))
            continue
        collected = collect_rationales(
            current.lm(), problems, verify, caps, samples=cfg.samples,
            temperature=cfg.temperature, rationalize=cfg.rationalize,
            keep_per_problem=cfg.keep_per_problem, seed=cfg.seed + 1000 * n,
            batch_size=cfg.batch_size, check=step_check(tasks) if cfg.check_steps else None)
        _write_examples(run_dir / "kept.jsonl", collected.kept)
        if not collected.kept:  # nothing verified: the round cannot teach anything
            record(RoundResult(n, 0, collected.stats(), results[-1].accuracy,
                               results[-1].by_task))
            continue
        model = base.copy()  # fine-tune the ORIGINAL base (§3.3)
        round_cfg = TrainConfig(**{**asdict(train), "steps": steps, "minutes": None})
        # sampling is seeded, so a round interrupted while fine-tuning collects the same
        # set again and its fine-tuning resumes from the saved state
        finetune_policy(model, [k.example(model.lm()) for k in collected.kept], round_cfg,
                        run_dir, meta={"trainer": "star", "round": n, "star": asdict(cfg)},
                        resume=(run_dir / STATE).exists(), progress=progress)
        model.module.eval()
        acc, by_task = evaluate(model.lm(), tasks, cfg.eval_n, cfg.seed,
                                 cfg.difficulty) \
            if cfg.eval_n else (None, {})
        record(RoundResult(n, steps, collected.stats(), acc, by_task))
        current = model
    return results


def _write_examples(path: Path, kept: list[Kept]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for k in kept:
            ex = k.example()
            f.write(json.dumps({"problem_id": k.problem.id, "task": k.problem.task,
                                "prompt": ex.prompt, "completion": ex.completion,
                                "rationalized": k.rationalized}) + "\n")


def _read_history(out: Path) -> dict[int, dict[str, Any]]:
    path = out / "star.jsonl"
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r["round"]: r for r in rows}
