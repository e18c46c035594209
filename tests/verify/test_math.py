import threading
import time
from types import SimpleNamespace

import pytest

from ponder.verify.math import math_equal, math_verifier


@pytest.mark.parametrize("pred, ref", [
    # numbers (fast path, no sympy)
    ("\\frac{1}{2}", "0.5"), ("1/2", "0.5"), ("0.5", "\\dfrac{1}{2}"), ("72", "72.0"),
    ("1,000", "1000"), ("-\\frac{1}{2}", "-0.5"), ("1e3", "1000"), ("$5", "5"),
    ("0.333333", "\\frac{1}{3}"),  # decimals compare to 6 places, as in math-verify
    # math-verify: LaTeX and equivalent expressions, sets, intervals, equations
    ("\\frac12", "1/2"), ("\\sqrt{4}", "2"), ("2\\sqrt{2}", "\\sqrt{8}"), ("x+1", "1+x"),
    ("(x-1)(x+1)", "x^2-1"), ("\\{2,1\\}", "\\{1,2\\}"), ("[0,1)", "[0, 1)"),
    ("x=3", "3"), ("10\\%", "0.1"),
])
def test_equal(pred, ref):
    assert math_equal(pred, ref)


@pytest.mark.parametrize("pred, ref", [
    ("3", "4"), ("0.33", "\\frac{1}{3}"), ("1000001", "1000000"), ("1/3", "0.5"),
    ("x+1", "x-1"), ("[0,1)", "(0,1)"), ("a", "b"), ("\\pi", "3.14"), ("", "3"),
])
def test_not_equal(pred, ref):
    assert not math_equal(pred, ref)


@pytest.mark.parametrize("pred", ["\\boxed{", "}{", "\\frac{1}{0}", "1/0", "\\sqrt{", "$$",
                                  "\\begin{matrix}", "x" * 5000])
def test_odd_input_is_not_equal_and_does_not_raise(pred):
    assert math_equal(pred, "2") is False


def test_pathological_input_is_bounded_by_the_timeout():
    start = time.monotonic()
    assert not math_equal("2^{2^{2^{100}}}", "1")
    assert time.monotonic() - start < 15  # three guarded steps of at most 3 s each


def test_works_off_the_main_thread():
    # math-verify's own timeout relies on SIGALRM (main thread only); it must not turn
    # every answer wrong when called from a worker thread
    out = []
    t = threading.Thread(target=lambda: out.extend(
        [math_equal("2\\sqrt{2}", "\\sqrt{8}"), math_equal("x+1", "x-1")]))
    t.start()
    t.join(60)
    assert out == [True, False]


def test_verifier():
    p = SimpleNamespace(answer="\\frac{3}{4}")
    assert math_verifier(p, "so \\boxed{0.75}") == 1.0
    assert math_verifier(p, "Answer: 3/4") == 1.0
    assert math_verifier(p, "Answer: 4/3") == 0.0
    assert math_verifier(p, "I give up") is None
    assert math_verifier(SimpleNamespace(answer=72), "#### 72") == 1.0  # non-str answers


def test_huge_exponents_never_build_huge_integers():
    # Fraction("1e10000000") alone takes seconds of CPU (and grows with the exponent):
    # an answer line a model writes must not stall the verifier
    from ponder.verify.math import _as_number

    assert _as_number("1e10000000") is None and _as_number("2/1e-99999999") is None
    assert _as_number("2.5e3") == 2500 and _as_number("1e-3") == _as_number("0.001")
    start = time.perf_counter()
    assert not math_equal("1e100000000", "5")
    assert math_verifier(SimpleNamespace(answer="7"), "Answer: 1e999999999") == 0.0
    assert time.perf_counter() - start < 5
