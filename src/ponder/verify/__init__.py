"""Pure functions that judge answers. A leaf package: imports nothing else of ponder.

Verifier signature (DESIGN.md): ``(problem, completion_text) -> float | None``; ``None``
means no answer could be extracted. Reward functions over batches follow TRL's shape:
``(completions, references) -> list[float | None]``.
"""

from ponder.verify.answers import extract_answer, normalize_answer

__all__ = ["extract_answer", "normalize_answer"]
