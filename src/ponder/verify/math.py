"""Equivalence of free-form math answers: ``\\frac{1}{2}`` == ``0.5`` == ``1/2``.

Numbers (the common case) are compared here, fast and without sympy, with math-verify's
rules: exactly, or to 6 decimal places when one side is a decimal. Everything else goes
to Hugging Face's ``math-verify`` (LaTeX and plain-expression parsing, sympy equivalence
of expressions, sets, intervals, equations). math-verify is imported on first use (it pulls
in sympy, about a second) and guarded: its parser and comparison can raise, or take very
long on adversarial input (``2^{2^{2^{100}}}``). Every such case counts as "not equal".

Timeouts: math-verify bounds each parse and comparison with ``signal.alarm``, which only
works in the main thread. Called from another thread, the alarm is skipped (math-verify
would otherwise refuse and report every answer as wrong). Inputs longer than
``MAX_CHARS`` are rejected everywhere; run heavy comparisons in the main thread or in
worker processes.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from fractions import Fraction
from typing import Any

from ponder.verify.answers import extract_answer, normalize_answer

TIMEOUT_S = 10  # per parse and per comparison (whole seconds; the first call loads sympy)
MAX_CHARS = 1000  # longer answers are not math answers; refuse them before parsing
FLOAT_ROUNDING = 6  # decimal places compared when an answer is a decimal (math-verify's)
# Fraction("1e10000000") builds a ten-million-digit integer (seconds to hours of CPU for
# one answer line); numbers with larger exponents go to math-verify, which is bounded
MAX_EXPONENT = 1000

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_LATEX_FRAC = re.compile(r"(-?)\\[dt]?frac\{([^{}]+)\}\{([^{}]+)\}")


def _as_number(text: str) -> Fraction | None:
    """``"1,000"``, ``"-0.50"``, ``"3/4"``, ``"\\frac{3}{4}"``, ``"1e3"`` as exact
    Fractions; None for anything else (expressions, units, text)."""
    s = normalize_answer(text).replace(" ", "").replace("−", "-")
    m = _LATEX_FRAC.fullmatch(s)
    if m:
        num, den = _as_number(m.group(2)), _as_number(m.group(3))
        if num is None or den is None or den == 0:
            return None
        return -num / den if m.group(1) else num / den
    parts = s.split("/")
    if len(parts) > 2 or not all(_NUMBER.fullmatch(p) for p in parts):
        return None
    if any(abs(_exponent(p)) > MAX_EXPONENT for p in parts):
        return None
    try:
        values = [Fraction(p) for p in parts]
    except (ValueError, ZeroDivisionError):
        return None
    if len(values) == 2:
        return values[0] / values[1] if values[1] != 0 else None
    return values[0]


def _exponent(number: str) -> int:
    """The power of ten of a number literal in ``_NUMBER`` form ("2.5e-3" -> -3)."""
    _, e, exp = number.lower().partition("e")
    return int(exp) if e else 0


@functools.cache
def _math_verify() -> Any:
    import math_verify

    # it logs every unparsable answer at ERROR level; the result (False) says enough
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    return math_verify


def _parse(text: str, timeout: int | None) -> list:
    mv = _math_verify()
    body = text.strip().strip("$").strip()
    # Math-mode first ("$x+1$" parses as an expression; bare "x+1" often does not), then
    # plain expressions ("1/2", "0.5").
    parsed = mv.parse(f"${body}$", parsing_timeout=timeout)
    return parsed or mv.parse(body, parsing_timeout=timeout)


def math_equal(pred: str, ref: str) -> bool:
    """Whether the answer ``pred`` is mathematically equal to the reference ``ref``.

    >>> math_equal("\\\\frac{1}{2}", "0.5") and math_equal("1/2", "0.5")
    True
    >>> math_equal("1,000", "1000.0")
    True
    >>> math_equal("3", "4")
    False
    """
    if normalize_answer(pred) == normalize_answer(ref):
        return True
    a, b = _as_number(pred), _as_number(ref)
    if a is not None and b is not None:
        # as math-verify: exact, unless one side is a decimal (then 6 decimal places,
        # so 0.333333 == 1/3)
        if a == b:
            return True
        decimal = any(c in s for s in (pred, ref) for c in ".eE")
        return decimal and round(a, FLOAT_ROUNDING) == round(b, FLOAT_ROUNDING)
    if len(pred) > MAX_CHARS or len(ref) > MAX_CHARS:
        return False
    timeout = TIMEOUT_S if threading.current_thread() is threading.main_thread() else None
    try:
        gold, target = _parse(ref, timeout), _parse(pred, timeout)
        if not gold or not target:
            return False
        return bool(_math_verify().verify(gold, target, timeout_seconds=timeout))
    except Exception:  # noqa: BLE001 - any failure inside math-verify means "not shown equal"
        return False


def math_verifier(problem: Any, completion: str) -> float | None:
    """Verifier for problems with a math answer (any object with ``.answer``): 1.0 if
    the completion's final answer equals it, 0.0 if not, None if it has no answer.

    >>> from types import SimpleNamespace
    >>> math_verifier(SimpleNamespace(answer="0.75"), "so it is \\\\boxed{\\\\frac{3}{4}}")
    1.0
    >>> math_verifier(SimpleNamespace(answer="2"), "I am not sure.") is None
    True
    """
    got = extract_answer(completion)
    if got is None:
        return None
    return float(math_equal(got, str(problem.answer)))
