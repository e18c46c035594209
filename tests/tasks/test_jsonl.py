import dataclasses
import json
from pathlib import Path

import pytest

from ponder.errors import InvalidInput, Unsupported
from ponder.tasks import get_task
from ponder.tasks.base import split_of
from ponder.tasks.jsonl import SPLIT_NAMESPACE, JsonlTask

GSM8K = [
    {"question": "Natalia sold clips to 48 of her friends in April, and then she sold half "
                 "as many clips in May. How many clips did Natalia sell altogether?",
     "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
               "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72"},
    {"question": "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes "
                 "of babysitting. How much did she earn?",
     "answer": "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\n"
               "Working 50 minutes, she earned 0.2 x 50 = $<<0.2*50=10>>10.\n#### 10"},
    {"question": "A shop sold 1200 pens at 1 dollar each. How many dollars did it take?",
     "answer": "#### 1,200"},
]
MATH = [
    {"problem": "What is $\\frac{1}{4} + \\frac{1}{4}$?",
     "solution": "Adding, $\\frac{1}{4} + \\frac{1}{4} = \\frac{2}{4}$.\n"
                 "So the sum is $\\boxed{\\frac{1}{2}}$.",
     "level": "Level 1", "type": "Prealgebra"},
    {"problem": "Expand $(x+1)^2$.", "solution": "It is $\\boxed{x^2+2x+1}$.",
     "level": "Level 3", "type": "Algebra"},
    {"problem": "Find $x$ if $2x = 6$.", "solution": "Divide by two: $x = 3$.",
     "answer": "3", "level": 2, "subject": "Algebra"},  # MATH-500 style answer field
    {"problem": "What is $1+1$?", "solution": "$\\boxed{2}$", "level": "Level ?"},
]


def write(path: Path, records, extra: str = "") -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n" + extra)
    return path


def test_gsm8k_format(tmp_path):
    task = get_task(f"jsonl:{write(tmp_path / 'gsm8k.jsonl', GSM8K)}")
    assert isinstance(task, JsonlTask) and task.format == "gsm8k"
    problems = task.all_problems()
    assert [p.answer for p in problems] == ["72", "10", "1200"]
    natalia = problems[0]
    assert natalia.prompt == GSM8K[0]["question"] and natalia.difficulty == 2
    # the rationale becomes the trace, without calculator annotations
    assert task.teacher_trace(natalia) == (
        "Natalia sold 48/2 = 24 clips in May.\n"
        "Natalia sold 48+24 = 72 clips altogether in April and May.\nAnswer: 72")
    assert task.teacher_trace(natalia, "direct") == "Answer: 72"
    assert task.verify(natalia, "...\nAnswer: 72.0") == 1.0
    assert task.verify(natalia, "#### 71") == 0.0
    assert task.verify(natalia, "no idea") is None
    # external data keeps the lenient rule: models answer in many formats, so the last
    # number counts when no marker does
    assert task.answer_rule == "lenient"
    eleven = dataclasses.replace(problems[1], answer="11")
    assert task.verify(eleven, "no idea 3 or 11") == 1.0
    assert task.verify(problems[2], "It took \\boxed{1200} dollars") == 1.0


def test_math_format(tmp_path):
    task = JsonlTask(write(tmp_path / "math.jsonl", MATH))
    assert task.format == "math"
    half, square, x, two = task.all_problems()
    assert (half.answer, half.difficulty) == ("\\frac{1}{2}", 1)
    assert (square.answer, square.difficulty) == ("x^2+2x+1", 3)
    assert (x.answer, x.difficulty) == ("3", 2)
    assert two.difficulty == 0  # "Level ?"
    assert (task.min_difficulty, task.max_difficulty) == (0, 3)
    assert task.trace_steps(half)[-1] == "So the sum is $\\boxed{\\frac{1}{2}}$."
    assert task.teacher_trace(half).endswith("\nAnswer: \\frac{1}{2}")
    assert half.meta["source"]["type"] == "Prealgebra"
    # math_equal: equivalent forms count
    assert task.verify(half, "so \\boxed{0.5}") == 1.0
    assert task.verify(square, "Answer: $(x+1)^2$") == 1.0
    assert task.verify(square, "Answer: x^2+1") == 0.0
    with pytest.raises(Unsupported, match="Monte-Carlo"):
        task.check_steps(half, ["a step"])


def test_splits_are_disjoint_deterministic_and_shared_across_files(tmp_path):
    records = [{"question": f"What is {i} + {i}?", "answer": f"{i} + {i} = {2 * i}\n#### {2 * i}"}
               for i in range(60)]
    task = JsonlTask(write(tmp_path / "a.jsonl", records))
    train, test = task.problems("train", 100), task.problems("test", 100)
    assert len(train) + len(test) == 60 and train and test
    assert not {p.prompt for p in train} & {p.prompt for p in test}
    assert all(split_of(SPLIT_NAMESPACE, p.prompt) == "train" for p in train)
    assert [p.id for p in task.problems("train", 5, seed=1)] == \
        [p.id for p in task.problems("train", 5, seed=1)]
    assert [p.id for p in task.problems("train", 20, seed=1)] != \
        [p.id for p in task.problems("train", 20, seed=2)]
    # the same question in another file lands in the same split
    other = JsonlTask(write(tmp_path / "b.jsonl", records[::-1]))
    assert {p.prompt for p in other.problems("test", 100)} == {p.prompt for p in test}


def test_difficulty_filter(tmp_path):
    task = JsonlTask(write(tmp_path / "math.jsonl", MATH * 1))
    every = task.problems("train", 10) + task.problems("test", 10)
    ones = task.problems("train", 10, difficulty=1) + task.problems("test", 10, difficulty=1)
    assert [p.answer for p in ones] == ["\\frac{1}{2}"] and len(every) == 4
    with pytest.raises(InvalidInput):
        task.problems("train", 1, difficulty=9)


def test_duplicate_questions_are_kept_once(tmp_path):
    task = JsonlTask(write(tmp_path / "dup.jsonl", GSM8K + GSM8K[:1]))
    assert len(task.all_problems()) == 3


@pytest.mark.parametrize("content, message", [
    ('{"question": "q", "answer": "#### 1"}\n{not json\n', r"bad\.jsonl:2: not valid JSON"),
    ('\n\n[1, 2]\n', r"bad\.jsonl:3: expected a JSON object"),
    ('{"prompt": "q", "completion": "a"}\n', r"bad\.jsonl:1: expected string fields"),
    ('{"question": "q", "answer": "#### 1"}\n{"problem": "p", "solution": "\\\\boxed{1}"}\n',
     r"bad\.jsonl:2: expected string fields \"question\" and \"answer\""),
    ('{"problem": "p", "solution": "no box here"}\n', r"bad\.jsonl:1: .*no \\boxed"),
    ('{"question": "q", "answer": "#### 1"}\n{"question": "q2", "answer": "a\\n#### "}\n',
     r"bad\.jsonl:2: .*no final answer after \"####\""),
    ('\n  \n', r"holds no records"),
])
def test_bad_files_name_the_line(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(InvalidInput, match=message):
        JsonlTask(path)


def test_missing_file_and_missing_path(tmp_path):
    with pytest.raises(InvalidInput, match="no such file"):
        get_task(f"jsonl:{tmp_path / 'absent.jsonl'}")
    with pytest.raises(InvalidInput, match="name a file"):
        get_task("jsonl")
