"""Problems from a JSONL file in GSM8K or MATH format: ``get_task("jsonl:gsm8k.jsonl")``.

The format is detected from the first record; every line must then follow it.

- GSM8K: ``{"question": ..., "answer": "<rationale lines>\\n#### 72"}``. The rationale
  becomes the teacher trace, one step a line, without its calculator annotations
  (``<<48/2=24>>``); difficulty is the number of rationale steps. An answer without
  ``####`` is taken as the bare final answer (no trace).
- MATH: ``{"problem": ..., "solution": "... \\boxed{...}", "level": "Level 3", "type":
  ...}``. The answer is the last ``\\boxed{}`` of the solution (or an ``"answer"`` field,
  as in MATH-500); the solution's lines are the trace; difficulty is the level (0 when
  it is missing or ``"Level ?"``).

Answers are checked with ``math_equal`` (exact numbers, then math-verify).

Splits: the file's own split is not used. The hash of each question decides, in one
namespace for every JSONL file, so a question lands in the same split whichever file it
comes from, and train and test never share one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ponder.errors import InvalidInput, Unsupported
from ponder.tasks.base import Problem
from ponder.tasks.dataset import DatasetTask
from ponder.verify.answers import last_boxed, normalize_answer
from ponder.verify.math import math_verifier

SPLIT_NAMESPACE = "jsonl"
FORMATS = {"gsm8k": ("question", "answer"), "math": ("problem", "solution")}
_CALC = re.compile(r"<<[^<>]*>>")
_LEVEL = re.compile(r"(?i)^\s*(?:level\s*)?(\d+)\s*$")


def _detect(record: dict[str, Any]) -> str | None:
    for fmt, keys in FORMATS.items():
        if all(isinstance(record.get(k), str) for k in keys):
            return fmt
    return None


def _gsm8k(record: dict[str, Any]) -> tuple[str, str, int, list[str]] | None:
    rationale, sep, final = record["answer"].rpartition("####")
    if not normalize_answer(final):
        return None  # "" or "... ####" with nothing after it: no answer to check against
    if not sep:
        return record["question"], normalize_answer(record["answer"]), 1, []
    steps = [" ".join(_CALC.sub("", ln).split()) for ln in rationale.splitlines()]
    steps = [s for s in steps if s]
    return record["question"], normalize_answer(final), max(1, len(steps)), steps


def _math(record: dict[str, Any]) -> tuple[str, str, int, list[str]] | None:
    answer = record.get("answer")
    if not isinstance(answer, str) or not answer.strip():
        answer = last_boxed(record["solution"])
    if not answer:
        return None
    level = record.get("level")
    m = _LEVEL.match(str(level)) if level is not None else None
    steps = [ln.strip() for ln in record["solution"].splitlines() if ln.strip()]
    return record["problem"], answer.strip(), int(m.group(1)) if m else 0, steps


def load_jsonl(path: Path) -> tuple[str, list[tuple[str, str, int, list[str], dict]]]:
    """Read and check a GSM8K/MATH file: its format and (prompt, answer, difficulty,
    steps, record) per distinct question. Errors name the file and line."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    fmt: str | None = None
    rows, seen = [], set()
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise InvalidInput(f"{where}: not valid JSON ({e.msg})") from e
            if not isinstance(record, dict):
                raise InvalidInput(f"{where}: expected a JSON object, got "
                                   f"{type(record).__name__}")
            got = _detect(record)
            fmt = fmt or got
            if got is None or got != fmt:
                want = " and ".join(f'"{k}"' for k in FORMATS[fmt]) if fmt else \
                    '"question" and "answer" (GSM8K) or "problem" and "solution" (MATH)'
                raise InvalidInput(f"{where}: expected string fields {want}; "
                                   f"got fields {sorted(record)}")
            row = _gsm8k(record) if fmt == "gsm8k" else _math(record)
            if row is None:
                raise InvalidInput(f"{where}: " + (
                    'the "answer" has no final answer after "####"' if fmt == "gsm8k" else
                    'the solution has no \\boxed{...} answer (and there is no "answer" '
                    "field)"))
            if row[0] not in seen:
                seen.add(row[0])
                rows.append((*row, record))
    if fmt is None:
        raise InvalidInput(f"{path}: the file holds no records")
    return fmt, rows


class JsonlTask(DatasetTask):
    """The problems of one GSM8K- or MATH-format JSONL file."""

    styles = ("cot", "direct")
    answer_rule = "lenient"  # math_verifier reads any marker, then the last number
    split_namespace = SPLIT_NAMESPACE  # shared by every file (see the module docstring)

    def __init__(self, path: str | Path = "") -> None:
        if not str(path):
            raise InvalidInput("jsonl: name a file, e.g. jsonl:data/gsm8k_test.jsonl")
        self.path = Path(path)
        self.name = f"jsonl:{path}"
        self.format, rows = load_jsonl(self.path)
        self._problems = [
            self.make_problem(prompt, answer, difficulty, steps=steps, source=record)
            for prompt, answer, difficulty, steps, record in rows]
        levels = [int(p.difficulty) for p in self._problems]
        self.min_difficulty, self.max_difficulty = min(levels), max(levels)

    def verify(self, problem: Problem, completion: str) -> float | None:
        return math_verifier(problem, completion)

    def trace_steps(self, problem: Problem, style: str = "cot") -> list[str]:
        return list(problem.meta.get("steps", []))

    def check_steps(self, problem: Problem, steps: list[str]) -> list[bool]:
        raise Unsupported(
            f"{self.name}: a written solution cannot check other steps exactly; label "
            "steps with Monte-Carlo rollouts (Math-Shepherd) instead")
