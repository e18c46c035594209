"""The countdown loop count (``recipes/countdown_loops.py``): a try repeated from the same
numbers after a return is counted, the teacher's own searches never repeat one."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "recipes"))

import countdown_loops  # noqa: E402

from ponder.tasks import get_task  # noqa: E402

LOOP = """<think>
18*8=144>63: 144 25
144-25=119>63: 119
back: 25 18 8
18*8=144>63: 144 25
144-25=119>63: 119
back: 8 25 18
18*8=144>63: 144 25
</think>"""


def test_a_move_repeated_from_the_node_it_was_tried_from_counts():
    # back at the start (its numbers in another order) 18*8 is tried again, twice
    assert countdown_loops.repeated_tries(LOOP) == 2
    # the same move from a node reached by another path is a new try (the first
    # line's 9*2 left 18 4 3; back at 18 4 3 after 4+3 it makes 18+7, not a repeat)
    assert countdown_loops.repeated_tries(
        "9*2=18<40: 18 4 3\n4+3=7<40: 18 7\n18+7=25<40: 25\nback: 18 4 3\n"
        "18*3=54>40: 54 4\n54-4=50>40: 50\nback: 9 2 4 3\n4*3=12<40: 12 9 2\n"
        "9*2=18<40: 18 12\n18+12=30<40: 30") == 0
    assert countdown_loops.repeated_tries(
        "9*2=18<40: 18 4 3\n4+3=7<40: 18 7\nback: 18 4 3\n4+3=7<40: 18 7") == 1


def test_the_teachers_search_never_repeats_a_try():
    task = get_task("countdown")
    for level in (3, 4, 5):
        for p in task.problems("train", 40, seed=3, difficulty=level):
            for style in ("search", "after"):
                assert countdown_loops.repeated_tries(task.teacher_trace(p, style)) == 0


def test_returns_that_name_the_last_move_are_returns_too():
    marked = LOOP.replace("back: 25 18 8", "back: 25 18 8; 144-25").replace(
        "back: 8 25 18", "back: 8 25 18; 144-25")
    assert countdown_loops.repeated_tries(marked) == 2


def test_levels_split_answered_from_unanswered(tmp_path):
    records = [
        {"difficulty": "4", "correct": True, "completion": "3+4=7=7: 7\nAnswer: 3+4"},
        {"difficulty": "4", "correct": False, "completion": LOOP},
        {"difficulty": "4", "correct": False, "completion": "3*4=12>7: 12\nAnswer: 3*4"},
    ]
    src = tmp_path / "e.json"
    src.write_text(json.dumps({"records": records}))
    out = countdown_loops.main([str(src), "--out", str(tmp_path / "o.json")])
    level = out["files"][str(src)]["levels"]["4"]
    assert level["accuracy"]["count"] == 1 and level["answered"]["count"] == 2
    assert level["repeated_try_unanswered"] == {**level["repeated_try_unanswered"],
                                                "count": 1, "n": 1}
    assert level["repeated_try_answered"]["count"] == 0
    assert level["first_try_left"] == {"1": 2, "2": 1}
    assert "wrong_line" not in level  # the file does not say which problems it holds


def test_lines_the_step_checker_rejects_are_counted_on_the_problems_drawn_again(tmp_path):
    task = get_task("countdown")
    problems = task.problems("test", 4, seed=0, difficulty=[3])
    right = [{"id": p.id, "difficulty": 3, "correct": True,
              "completion": task.teacher_trace(p) + "\n"} for p in problems]
    # the first try of the last one drops a number from what is left
    first = task.trace_steps(problems[-1])[0]
    dropped = first.rsplit(" ", 1)[0]
    right[-1] = {**right[-1], "correct": False, "completion": dropped + "\n"}
    src = tmp_path / "e.json"
    src.write_text(json.dumps({"records": right, "split": "test", "n": 4, "seed": 0,
                               "difficulty": [3]}))
    level = countdown_loops.main([str(src), "--out", str(tmp_path / "o.json")])[
        "files"][str(src)]["levels"]["3"]
    assert level["wrong_line"]["count"] == 1
    assert level["first_try_left"] == {"2": 1, "3": 3}
    assert json.loads((tmp_path / "o.json").read_text())["files"]
