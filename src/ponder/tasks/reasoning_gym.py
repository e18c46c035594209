"""Any reasoning-gym data set as a ponder task: ``get_task("rg:leg_counting")``.

reasoning-gym (Stojanovski et al. 2025) generates problems procedurally, each data set
with its own answer scorer. Problems keep the generator's entry (question, answer,
metadata) in ``meta``, and ``verify`` hands our extracted answer to the data set's own
``score_answer``, which may give partial credit (a float in [0, 1]).

Difficulty: 0 is the data set's default configuration (what reasoning-gym's own
benchmarks use); 1..N are the levels of its curriculum, where it has one (the top range
of each attribute at that level, reasoning-gym's ``upper_bound`` mode).

reasoning-gym has no step-by-step solutions, so there is no teacher trace and no exact
step checker: those raise ``Unsupported``. Step labels for a PRM come from Monte-Carlo
rollouts instead (Math-Shepherd), and warm-up traces from sampled, verified completions
(STaR).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from typing import Any

from ponder.errors import ConfigError, UnknownName, Unsupported
from ponder.tasks.base import Problem, Split, Task, problem_id
from ponder.verify.answers import extract_by_rule

CHUNK = 500  # entries per generated data set (reasoning-gym's default size)


def _rg() -> Any:
    try:
        import reasoning_gym
    except ImportError as e:
        raise ConfigError("reasoning-gym is not installed; install it with "
                          "`pip install 'ponder[tasks]'` (or `pip install reasoning-gym`)"
                          ) from e
    return reasoning_gym


def dataset_names() -> list[str]:
    """Names of every reasoning-gym data set (the ``NAME`` of ``rg:NAME``)."""
    _rg()
    from reasoning_gym.factory import DATASETS

    return sorted(DATASETS)


class ReasoningGymTask(Task):
    """Problems of the reasoning-gym data set ``dataset``, scored by its own scorer."""

    min_difficulty = 0
    styles = ("cot",)
    answer_rule = "lenient"  # <answer> tags first, as reasoning-gym prompts ask for

    def __init__(self, dataset: str = "") -> None:
        rg = _rg()
        from reasoning_gym.factory import CURRICULA, DATASETS

        if dataset not in DATASETS:  # the message lists every name (also: dataset_names())
            raise UnknownName("reasoning-gym data set", dataset, sorted(DATASETS))
        self.dataset = dataset
        self.name = f"rg:{dataset}"
        self._scorers: dict[int, Any] = {}
        self.max_difficulty = 0
        if dataset in CURRICULA:
            attrs = rg.factory.create_curriculum(dataset).attributes.values()
            self.max_difficulty = max((len(a.levels) for a in attrs), default=0)
        self._scorer(0)  # fail now, with a clear message, if it cannot be built

    # -- generation ---------------------------------------------------------------
    def _scorer(self, difficulty: int) -> Any:
        """A data set of that level, for its ``score_answer`` (which may read its config)."""
        if difficulty not in self._scorers:
            self._scorers[difficulty] = self._dataset(difficulty, seed=0, size=1)
        return self._scorers[difficulty]

    def _dataset(self, difficulty: int, seed: int, size: int) -> Any:
        rg = _rg()
        try:
            if difficulty == 0:
                return rg.create_dataset(self.dataset, seed=seed, size=size)
            from reasoning_gym.coaching.base_curriculum import (
                DefaultCurriculumContext,
                RangeAttributeMode,
            )

            curriculum = rg.factory.create_curriculum(self.dataset)
            curriculum.set_global_level(difficulty - 1)
            config = curriculum.generate_configuration(
                {"seed": seed, "size": size},
                context=DefaultCurriculumContext(mode=RangeAttributeMode.UPPER_BOUND))
            cls, _ = rg.factory.DATASETS[self.dataset]
            return cls(config=config)
        except (TypeError, ValueError, AssertionError) as e:
            raise ConfigError(f"{self.name}: reasoning-gym cannot build this data set at "
                              f"difficulty {difficulty}: {e}") from e

    def _entries(self, seed: int, difficulty: int) -> Iterator[dict[str, Any]]:
        """The endless, seeded stream of entries at one level: consecutive data sets of
        CHUNK entries, each with its own seed derived from ``(seed, level, chunk)``."""
        chunk = 0
        while True:
            key = f"{self.name}:{seed}:{difficulty}:{chunk}".encode()
            chunk_seed = int.from_bytes(hashlib.sha256(key).digest()[:4], "big")
            ds = self._dataset(difficulty, seed=chunk_seed, size=CHUNK)
            for i in range(len(ds)):
                yield ds[i]
            chunk += 1

    def _problem(self, entry: dict[str, Any], difficulty: int) -> Problem:
        answer = entry.get("answer")
        meta = {"question": entry["question"], "answer": answer,
                "metadata": entry.get("metadata", {})}
        # built directly: make_problem's **meta cannot carry a key named "answer"
        return Problem(id=problem_id(self.name, entry["question"]), task=self.name,
                       prompt=entry["question"], answer="" if answer is None else str(answer),
                       difficulty=difficulty, meta=meta)

    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        ds = self._dataset(self.check_difficulty(difficulty), seed=rng.getrandbits(32), size=1)
        return self._problem(ds[0], difficulty)

    def problems(self, split: Split, n: int, seed: int = 0,
                 difficulty: int | list[int] | None = None) -> list[Problem]:
        """``n`` distinct problems of ``split``; ``difficulty=None`` means the default
        configuration (0). The stream of entries does not depend on the split: the hash
        of each question decides which split may take it, as for built-in tasks."""
        levels = self.check_request(split, n, difficulty)
        if levels is None:
            levels = [0]
        streams = {d: self._entries(seed, d) for d in levels}
        out: list[Problem] = []
        seen: set[str] = set()
        misses = 0
        while len(out) < n and misses < 2000 + 50 * n:
            d = levels[len(out) % len(levels)]
            p = self._problem(next(streams[d]), d)
            if self.key(p) in seen or self.split(p) != split:
                misses += 1
                continue
            seen.add(self.key(p))
            out.append(p)
        return out

    # -- judging ------------------------------------------------------------------
    def verify(self, problem: Problem, completion: str) -> float | None:
        """The data set's own score of the completion's final answer; None if absent."""
        got = extract_by_rule(completion, self.answer_rule)
        if got is None:
            return None
        entry = {"question": problem.meta.get("question", problem.prompt),
                 "answer": problem.meta.get("answer", problem.answer),
                 "metadata": problem.meta.get("metadata", {})}
        try:
            score = self._scorer(int(problem.difficulty)).score_answer(answer=got, entry=entry)
        except Exception:  # noqa: BLE001 - a scorer that chokes on an answer rejects it
            return 0.0
        return float(score or 0.0)

    def trace_steps(self, problem: Problem, style: str = "cot") -> list[str]:
        raise Unsupported(
            f"{self.name}: reasoning-gym has no step-by-step solutions, so there is no "
            "teacher trace; warm up from sampled completions that verify (STaR) instead")

    def check_steps(self, problem: Problem, steps: list[str]) -> list[bool]:
        raise Unsupported(
            f"{self.name}: reasoning-gym cannot check single steps; label steps with "
            "Monte-Carlo rollouts (Math-Shepherd) instead")
