import doctest

import pytest

import ponder.verify.answers as answers_mod
import ponder.verify.code as code_mod
import ponder.verify.math as math_mod
import ponder.verify.rewards as rewards_mod
import ponder.verify.sandbox as sandbox_mod
from ponder.verify.answers import extract_answer, last_boxed, normalize_answer


@pytest.mark.parametrize("module", [answers_mod, math_mod, code_mod, rewards_mod, sandbox_mod])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("text, expected", [
    # precedence: tag > answer line > boxed > #### > last number
    ("<answer>7</answer>\nAnswer: 8\n\\boxed{9}\n#### 10", "7"),
    ("Answer: 8\n\\boxed{9}\n#### 10 11", "8"),
    ("\\boxed{9}\n#### 10 11", "9"),
    ("#### 10\nthen 11", "10"),
    ("first 3 then 4", "4"),
    # the last occurrence of a marker wins
    ("Answer: 1\nno wait\nAnswer: 2", "2"),
    ("\\boxed{1} or rather \\boxed{2}", "2"),
    ("<answer>1</answer> ... <answer>2</answer>", "2"),
    # markdown and wrappers around answer lines
    ("**Final Answer:** 42", "42"),
    ("**Answer**: $\\frac{3}{4}$", "\\frac{3}{4}"),
    ("## Answer: \\boxed{x^2}", "x^2"),
    ("The answer is: 5.", "5"),
    # nested braces and brace-less boxed
    ("\\boxed{\\frac{\\sqrt{2}}{2}}", "\\frac{\\sqrt{2}}{2}"),
    ("so \\boxed 5 apples", "5"),
    ("\\fbox{12}", "12"),
    # multi-line answers in tags (grids, lists)
    ("<answer>\n1 2\n3 4\n</answer>", "1 2\n3 4"),
    # numbers: thousands separators only when well-formed, signs, decimals
    ("it costs 1,000,000 dollars", "1000000"),
    ("the list 1,2,3", "3"),
    ("temperature −7 degrees", "-7"),
    ("about .5 of it", ".5"),
    ("ratio 3/4", "3/4"),
])
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize("text", ["", "no digits here", "Answer:   ", "<answer> </answer>",
                                  "\\boxed{unbalanced"])
def test_extract_answer_none(text):
    assert extract_answer(text) is None


def test_empty_markers_fall_through_to_the_next_rule():
    assert extract_answer("Answer:\n\\boxed{3}") == "3"
    assert extract_answer("\\boxed{unbalanced and 4") == "4"


def test_last_number_can_be_disabled():
    assert extract_answer("it is 3", last_number=False) is None
    assert extract_answer("#### 3", last_number=False) == "3"


def test_last_boxed():
    assert last_boxed("a \\boxed{1} b \\boxed{{2}}") == "{2}"
    assert last_boxed("nothing") is None
    assert last_boxed("\\boxed") is None


@pytest.mark.parametrize("raw, canonical", [
    (" $1,000. ", "1000"), ("+5", "5"), ("2.50", "2.5"), ("3.0", "3"), ("-0", "0"),
    ("−4", "-4"), (".5", "0.5"), ("-.25", "-0.25"), ("x  +  1", "x + 1"),
    ("\\frac{1}{2}", "\\frac{1}{2}"), ("-1,000,000.50", "-1000000.5"),
    # commas that are not thousands groups separate items: never merged into one number
    ("1,2,3", "1,2,3"), ("12,3", "12,3"), ("1,0000", "1,0000"),
])
def test_normalize_answer(raw, canonical):
    assert normalize_answer(raw) == canonical


def test_normalize_is_idempotent():
    for raw in [" $1,000. ", "2.50", "-.25", "abc  d"]:
        once = normalize_answer(raw)
        assert normalize_answer(once) == once


def test_a_list_answer_is_not_the_number_its_digits_spell():
    from ponder.verify.math import math_equal
    from ponder.verify.rewards import exact_match_reward

    assert exact_match_reward(["Answer: 1,2,3", "Answer: 1,234"], ["123", "1234"]) == \
        [0.0, 1.0]
    assert not math_equal("1,2,3", "123") and math_equal("12,345", "12345")


def test_answer_rules():
    from ponder.verify.answers import ANSWER_RULES, answer_line_answer, extract_by_rule

    assert set(ANSWER_RULES) == {"answer-line", "lenient"}
    assert answer_line_answer("no idea 3 or 11") is None
    assert answer_line_answer("<answer>11</answer>") is None  # only the answer line counts
    assert answer_line_answer("x\n**Final Answer:** $\\boxed{11}$") == "11"
    assert answer_line_answer("Answer: 1\nAnswer: 11\nthen 12") == "11"
    assert answer_line_answer("Answer:   \n") is None
    assert extract_by_rule("no idea 3 or 11", "lenient") == "11"
    assert extract_by_rule("no idea 3 or 11", "answer-line") is None
    with pytest.raises(ValueError, match="unknown answer rule"):
        extract_by_rule("Answer: 1", "strictest")
