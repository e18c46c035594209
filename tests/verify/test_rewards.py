import pytest

from ponder.verify.rewards import (
    code_reward,
    completion_text,
    exact_match_reward,
    explicit_answer_reward,
    math_reward,
)


def test_completion_text_accepts_strings_and_conversations():
    assert completion_text("Answer: 1") == "Answer: 1"
    convo = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]
    assert completion_text(convo) == "4"
    assert completion_text([]) == ""


def test_exact_match_reward():
    completions = ["Answer: 1,000", "#### 7", "\\boxed{x+1}", "no answer", "Answer: 0.5"]
    references = ["1000", "8", "1+x", "3", "1/2"]
    # exact means textual: 1+x and 1/2 are not the same strings as x+1 and 0.5
    assert exact_match_reward(completions, references) == [1.0, 0.0, 0.0, None, 0.0]


def test_math_reward_judges_equivalence():
    completions = ["Answer: 1,000", "#### 7", "\\boxed{x+1}", "no answer", "Answer: 0.5"]
    references = ["1000", "8", "1+x", "3", "1/2"]
    assert math_reward(completions, references) == [1.0, 0.0, 1.0, None, 1.0]


def test_rewards_take_conversations_and_ignore_extra_columns():
    convo = [[{"role": "assistant", "content": "Answer: 4"}]]
    assert math_reward(convo, ["4"], prompts=["2+2?"], completion_ids=[[1, 2]]) == [1.0]


def test_format_reward():
    completions = ["x\nAnswer: 3", "<answer>3</answer>", "\\boxed{3}", "#### 3", "it is 3", ""]
    assert explicit_answer_reward(completions) == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="one reference per completion"):
        math_reward(["Answer: 1"], ["1", "2"])


def test_code_reward():
    tests = "def check(candidate):\n    assert candidate(3) == 9\n    assert candidate(-2) == 4"
    header = "def square(x):\n    '''x squared'''\n"
    completions = [
        "```python\ndef square(x):\n    return x * x\n```",  # whole function, fenced
        "    return x ** 2\n",                                  # body continuing the header
        "    return x * 2\n",                                   # wrong
        "Sorry, I cannot help with that.",                      # prose: not valid code
        "",                                                     # nothing at all
        [{"role": "assistant", "content": "```py\n    return abs(x) * abs(x)\n```"}],
    ]
    rewards = code_reward(completions, [tests] * 6, entry_point="square", prefix=[header] * 6,
                          workers=2, timeout_s=5)
    assert rewards == [1.0, 1.0, 0.0, 0.0, None, 1.0]


def test_code_reward_without_prefix_and_per_item_entry_points():
    tests = ["def check(f):\n    assert f() == 1", "def check(f):\n    assert f() == 2"]
    completions = ["def one():\n    return 1", "def two():\n    return 3"]
    assert code_reward(completions, tests, entry_point=["one", "two"]) == [1.0, 0.0]
    with pytest.raises(ValueError, match="one value per completion"):
        code_reward(completions, tests, entry_point=["one"])
