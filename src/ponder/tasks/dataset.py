"""A Task over a fixed list of problems: a data set rather than a generator.

Splits still come from the hash of each problem's key (``split_of``), so they are
disjoint by construction; ``problems`` shuffles a split's problems by seed and takes
the first ``n`` (fewer when the split holds fewer).
"""

from __future__ import annotations

import random

from ponder.errors import InvalidInput
from ponder.tasks.base import Problem, Split, Task, split_of


class DatasetTask(Task):
    """Subclasses fill ``self._problems`` (distinct keys) and set difficulty bounds."""

    _problems: list[Problem]

    @property
    def split_namespace(self) -> str:
        """The task name hashed with each key to pick its split; override to share
        splits between tasks (e.g. every JSONL file)."""
        return self.name

    def all_problems(self) -> list[Problem]:
        """Every problem of the data set, both splits, in file order."""
        return list(self._problems)

    def split(self, problem: Problem) -> Split:
        return split_of(self.split_namespace, self.key(problem))

    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        d = self.check_difficulty(difficulty)
        at = [p for p in self._problems if p.difficulty == d]
        if not at:
            raise InvalidInput(f"{self.name}: no problem has difficulty {difficulty}")
        return rng.choice(at)

    def problems(self, split: Split, n: int, seed: int = 0,
                 difficulty: int | list[int] | None = None) -> list[Problem]:
        """Up to ``n`` problems of ``split``, shuffled by ``seed``; ``difficulty`` keeps
        only those levels (every level when None)."""
        levels = self.check_request(split, n, difficulty)
        pool = [p for p in self._problems if self.split(p) == split
                and (levels is None or p.difficulty in levels)]
        random.Random(f"{self.split_namespace}:{split}:{seed}").shuffle(pool)
        return pool[:n]
