"""Extract the final answer from free text.

Order of precedence (the most explicit marker wins, the last occurrence of it wins):
1. an answer line ``Answer: ...`` (the format of ponder's teacher traces),
2. ``\\boxed{...}`` (MATH style; nested braces handled),
3. ``#### ...`` (GSM8K style),
4. the last number in the text.
"""

from __future__ import annotations

import re

_ANSWER_LINE = re.compile(r"(?im)^\s*(?:final\s+)?answer\s*[:：]\s*(.+?)\s*$")
_HASHES = re.compile(r"(?m)####\s*(.+?)\s*$")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")


def _last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth, j = 1, i
    while j < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        j += 1
    return text[i : j - 1].strip() if depth == 0 else None


def extract_answer(text: str) -> str | None:
    """Return the final answer in ``text`` as a string, or ``None`` if there is none.

    >>> extract_answer("3 + 4 = 7\\nAnswer: 7")
    '7'
    >>> extract_answer("so the result is \\\\boxed{\\\\frac{1}{2}}.")
    '\\\\frac{1}{2}'
    >>> extract_answer("Natalia sold 72 clips.\\n#### 72")
    '72'
    >>> extract_answer("she has 3 apples then 5")
    '5'
    >>> extract_answer("no digits here") is None
    True
    """
    lines = _ANSWER_LINE.findall(text)
    if lines and lines[-1].strip():
        return lines[-1].strip().rstrip(".")
    boxed = _last_boxed(text)
    if boxed:
        return boxed
    hashes = _HASHES.findall(text)
    if hashes:
        return hashes[-1].strip()
    numbers = _NUMBER.findall(text)
    if numbers:
        return numbers[-1].replace(",", "")
    return None


def normalize_answer(answer: str) -> str:
    """Canonical string form for exact comparison: trims spaces, thousands separators,
    a trailing period, ``$`` signs and leading ``+``; ``"1,000."`` -> ``"1000"``.

    >>> normalize_answer(" $1,000. ")
    '1000'
    """
    a = answer.strip().strip("$").strip().rstrip(".").strip()
    if re.fullmatch(r"[+-]?[\d,]+(?:\.\d+)?", a):
        a = a.replace(",", "").lstrip("+")
        if "." in a:
            a = a.rstrip("0").rstrip(".")
        if a in ("-0", ""):
            a = "0"
    return " ".join(a.split())
