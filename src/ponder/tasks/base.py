"""The Problem record and the Task base class every task family implements.

A Task yields Problems deterministically from ``(split, seed, difficulty)``. Train and
test splits are disjoint by construction: a hash of the problem's canonical key decides
its split, so the same problem can never be drawn into both, whatever the seed.
"""

from __future__ import annotations

import hashlib
import random
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

from ponder.errors import InvalidInput
from ponder.verify.answers import extract_by_rule, normalize_answer

Split = Literal["train", "test"]
SPLITS: tuple[Split, ...] = ("train", "test")
TEST_FRACTION = 0.2
ANSWER_PREFIX = "Answer: "


@dataclass(frozen=True)
class Problem:
    """One checkable problem.

    ``prompt`` is the question text only (no chat template); ``answer`` is canonical
    (what ``normalize_answer`` of a correct final answer equals); ``meta`` holds what the
    task needs to check steps or render traces (operands, graphs, permutations...).
    """

    id: str
    task: str
    prompt: str
    answer: str
    difficulty: int | float
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Problem:
        return cls(**{k: d[k] for k in ("id", "task", "prompt", "answer", "difficulty")},
                   meta=dict(d.get("meta", {})))


def split_of(task: str, key: str, test_fraction: float = TEST_FRACTION) -> Split:
    """Deterministic split of a canonical problem key (independent of any seed)."""
    h = int.from_bytes(hashlib.sha256(f"{task}\x00{key}".encode()).digest()[:8], "big")
    return "test" if (h % 1_000_000) < test_fraction * 1_000_000 else "train"


def problem_id(task: str, key: str) -> str:
    return f"{task}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def answer_line(answer: str) -> str:
    return f"{ANSWER_PREFIX}{answer}"


def squash(line: str) -> str:
    """A step line without whitespace: spacing carries no meaning in a step.

    >>> squash(" 3 + 4 = 7 ")
    '3+4=7'
    """
    return "".join(line.split())


def match_lines(want: list[str], steps: list[str]) -> list[bool]:
    """Per step line, whether it equals the teacher's line at the same place (ignoring
    whitespace): the exact step check of a task whose method is deterministic, so that
    the correct i-th line is unique. Lines past the teacher's last one are wrong.

    >>> match_lines(["a=1", "b=2"], ["a = 1", "b=3", "c=4"])
    [True, False, False]
    """
    target = [squash(w) for w in want]
    return [i < len(target) and squash(s) == target[i] for i, s in enumerate(steps)]


def match_trace(traces: list[list[str]], steps: list[str]) -> list[bool]:
    """``match_lines`` against the teacher trace, among several formats of it (e.g. the
    fine default and the coarse one), that the steps follow: the one whose lines they
    match longest from the start (the first on a tie).

    >>> match_trace([["a=1", "b=2"], ["a,b=1,2"]], ["a,b=1,2"])
    [True]
    >>> match_trace([["s", "x", "y"], ["s", "y", "x"]], ["s", "y", "z"])
    [True, True, False]
    """
    def agreed(marks: list[bool]) -> int:
        return next((i for i, ok in enumerate(marks) if not ok), len(marks))

    return max((match_lines(trace, steps) for trace in traces), key=agreed)


class Task(ABC):
    """A family of generated problems with a teacher trace, verifier and step checker.

    Subclasses implement ``generate`` (one problem at a difficulty), ``trace_steps``
    (the teacher's solution, one step a line, without the answer line) and
    ``check_steps`` (which of a list of step lines are correct). Everything else —
    split-aware sampling, the full teacher trace, the default exact verifier — is here.
    """

    name: ClassVar[str]
    min_difficulty: ClassVar[int] = 1
    max_difficulty: ClassVar[int]
    #: trace styles this task can render; the first is the default. "direct" means no
    #: chain of thought at all: the answer line follows the prompt immediately.
    styles: ClassVar[tuple[str, ...]] = ("cot",)
    #: variant -> one-line description, for ``name:variant`` (see ``from_spec``)
    variants: ClassVar[dict[str, str]] = {}
    #: how ``verify`` reads the final answer (``ponder.verify.answers.ANSWER_RULES``):
    #: "answer-line" needs the ``Answer: ...`` line the teacher traces end with, so a
    #: stray number is never an answer; "lenient" (tags, boxed, ``####``, then the last
    #: number) is for external data sets, whose models answer in many formats.
    answer_rule: ClassVar[str] = "answer-line"

    # -- to implement -------------------------------------------------------------
    @abstractmethod
    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        """Draw one problem at ``difficulty`` using only ``rng`` for randomness."""

    @abstractmethod
    def trace_steps(self, problem: Problem, style: str = "cot") -> list[str]:
        """The teacher's solution steps (one string per line), without the answer line."""

    @abstractmethod
    def check_steps(self, problem: Problem, steps: list[str]) -> list[bool]:
        """Exact per-line correctness of a (possibly model-written) list of step lines."""

    # -- shared behaviour ---------------------------------------------------------
    def key(self, problem: Problem) -> str:
        """Canonical key deciding the split (and distinctness within a problem set): the
        same for every problem that differs from another only in names, fact order,
        distractors or commutative operands, so that no test problem has a train twin
        up to renaming. By default the prompt text, for tasks whose prompt is canonical."""
        return problem.prompt

    def split(self, problem: Problem) -> Split:
        return split_of(self.name, self.key(problem))

    @classmethod
    def from_spec(cls, spec: str) -> Task:
        """The task named ``name:spec`` (a variant of a built-in family); none by default."""
        raise InvalidInput(f"task {cls.name!r} has no variants; got {cls.name}:{spec}")

    def check_difficulty(self, difficulty: int) -> int:
        if not isinstance(difficulty, int) or not (
            self.min_difficulty <= difficulty <= self.max_difficulty
        ):
            raise InvalidInput(
                f"{self.name}: difficulty must be an integer in "
                f"{self.min_difficulty}..{self.max_difficulty}, got {difficulty!r}"
            )
        return difficulty

    def check_style(self, style: str) -> str:
        if style not in self.styles:
            raise InvalidInput(
                f"{self.name}: unknown trace style {style!r}; choose one of {self.styles}"
            )
        return style

    def check_request(self, split: str, n: int,
                      difficulty: int | list[int] | None) -> list[int] | None:
        """Check the arguments of a ``problems`` call; return the levels it asks for as a
        list (None when ``difficulty`` is None: the task's default)."""
        if split not in SPLITS:
            raise InvalidInput(f"split must be one of {SPLITS}, got {split!r}")
        if n < 0:
            raise InvalidInput(f"n must be >= 0, got {n}")
        if difficulty is None:
            return None
        levels = [difficulty] if isinstance(difficulty, int) else list(difficulty)
        for d in levels:
            self.check_difficulty(d)
        return levels

    def problems(
        self,
        split: Split,
        n: int,
        seed: int = 0,
        difficulty: int | list[int] | None = None,
    ) -> list[Problem]:
        """``n`` distinct problems of ``split``, deterministic in ``(split, seed, difficulty)``.

        ``difficulty`` may be one level, a list of levels (cycled), or None (every level
        of the task, cycled). Problems are distinct within one call; a level that runs out
        of distinct problems in the split leaves the rotation (after 2000 misses in a row),
        and the list is shorter only when every level has run out.
        """
        levels = self.check_request(split, n, difficulty)
        if levels is None:
            levels = list(range(self.min_difficulty, self.max_difficulty + 1))
        rng = random.Random(f"{self.name}:{split}:{seed}:{levels}")
        out: list[Problem] = []
        seen: set[str] = set()
        # a level with few distinct problems (1-digit sums) runs dry: after many misses in a
        # row it leaves the rotation, so the other levels still fill the list
        active = list(levels)
        misses = dict.fromkeys(levels, 0)
        i = 0
        while len(out) < n and active:
            d = active[i % len(active)]
            p = self.generate(rng, d)
            k = self.key(p)
            if k in seen or self.split(p) != split:
                misses[d] += 1
                if misses[d] > 2000:
                    active.remove(d)
                continue
            misses[d] = 0
            seen.add(k)
            out.append(p)
            i += 1
        return out

    def teacher_trace(self, problem: Problem, style: str | None = None) -> str:
        """Full teacher completion: step lines, then ``Answer: <answer>``."""
        style = self.check_style(style or self.styles[0])
        steps = [] if style == "direct" else self.trace_steps(problem, style)
        return "\n".join([*steps, answer_line(problem.answer)])

    def verify(self, problem: Problem, completion: str) -> float | None:
        """1.0 if the final answer (read by ``answer_rule``) equals the canonical one,
        0.0 if not, None if absent."""
        got = extract_by_rule(completion, self.answer_rule)
        if got is None:
            return None
        return float(normalize_answer(got) == normalize_answer(problem.answer))

    def first_error(self, problem: Problem, steps: list[str]) -> int | None:
        """Index of the first incorrect step line, or None when all are correct."""
        for i, ok in enumerate(self.check_steps(problem, steps)):
            if not ok:
                return i
        return None

    def make_problem(self, prompt: str, answer: str, difficulty: int, **meta: Any) -> Problem:
        """Helper for subclasses: builds the Problem with its id from its prompt (the
        canonical key, which decides the split, may merge problems that differ only in
        names; the id tells them apart)."""
        return Problem(id=problem_id(self.name, prompt), task=self.name, prompt=prompt,
                       answer=answer, difficulty=difficulty, meta=meta)
