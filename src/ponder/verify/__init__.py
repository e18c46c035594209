"""Pure functions that judge answers. A leaf package: imports nothing else of ponder.

Verifier signature (DESIGN.md): ``(problem, completion_text) -> float | None``; ``None``
means no answer could be extracted. Reward functions over batches follow TRL's shape:
``(completions, references, **kw) -> list[float | None]`` (``ponder.verify.rewards``).

- ``answers``: the final answer of free text (answer tags and lines, ``\\boxed{}``,
  ``####``, last number) and its normal form;
- ``math``: equivalence of math answers (exact numbers, then math-verify);
- ``sandbox``: running untrusted Python with limits and isolation;
- ``code``: code answers against unit tests (HumanEval style) in the sandbox;
- ``rewards``: the batch reward functions built on the above.
"""

from ponder.verify.answers import extract_answer, normalize_answer
from ponder.verify.code import check_code, check_many, extract_code, function_program
from ponder.verify.math import math_equal, math_verifier
from ponder.verify.sandbox import (
    SandboxError,
    SandboxResult,
    isolation_level,
    run_code,
    run_many,
)

__all__ = [
    "SandboxError",
    "SandboxResult",
    "check_code",
    "check_many",
    "extract_answer",
    "extract_code",
    "function_program",
    "isolation_level",
    "math_equal",
    "math_verifier",
    "normalize_answer",
    "run_code",
    "run_many",
]
