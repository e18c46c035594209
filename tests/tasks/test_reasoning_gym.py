import json
import random

import pytest

from ponder.errors import InvalidInput, PonderError, UnknownName, Unsupported
from ponder.tasks import get_task
from ponder.tasks.base import Problem, split_of
from ponder.tasks.reasoning_gym import ReasoningGymTask, dataset_names

pytest.importorskip("reasoning_gym")


@pytest.fixture(scope="module")
def legs() -> ReasoningGymTask:
    return get_task("rg:leg_counting")


def test_registry_builds_the_adapter(legs):
    assert isinstance(legs, ReasoningGymTask)
    assert legs.name == "rg:leg_counting"
    assert legs.min_difficulty == 0 and legs.max_difficulty > 1  # it has a curriculum
    assert "leg_counting" in dataset_names() and len(dataset_names()) > 50


def test_problems_keep_the_entry_and_are_deterministic(legs):
    a = legs.problems("train", 12, seed=3)
    assert [p.id for p in a] == [p.id for p in legs.problems("train", 12, seed=3)]
    assert [p.id for p in a] != [p.id for p in legs.problems("train", 12, seed=4)]
    assert len({p.prompt for p in a}) == 12
    p = a[0]
    assert p.task == "rg:leg_counting" and p.difficulty == 0
    assert p.meta["question"] == p.prompt and str(p.meta["answer"]) == p.answer
    assert p.meta["metadata"]["source_dataset"] == "leg_counting"


def test_splits_are_disjoint_by_hash(legs):
    train = legs.problems("train", 60, seed=0)
    test = legs.problems("test", 30, seed=0)
    assert len(train) == 60 and len(test) == 30
    assert not {p.prompt for p in train} & {p.prompt for p in test}
    assert all(split_of(legs.name, p.prompt) == "train" for p in train)
    assert all(legs.split(p) == "test" for p in test)


def test_difficulty_follows_the_curriculum(legs):
    easy = legs.problems("train", 10, difficulty=1)
    hard = legs.problems("train", 10, difficulty=legs.max_difficulty)
    assert {p.difficulty for p in easy} == {1}
    assert {p.difficulty for p in hard} == {legs.max_difficulty}
    animals = [len(p.meta["metadata"]["animals"]) for p in easy]
    assert max(animals) < min(len(p.meta["metadata"]["animals"]) for p in hard)
    mixed = legs.problems("train", 4, difficulty=[1, 2])
    assert [p.difficulty for p in mixed] == [1, 2, 1, 2]
    with pytest.raises(InvalidInput):
        legs.problems("train", 1, difficulty=legs.max_difficulty + 1)
    with pytest.raises(InvalidInput):
        legs.problems("validation", 1)


def test_verify_extracts_then_uses_the_data_sets_scorer(legs):
    p = legs.problems("test", 1)[0]
    wrong = str(int(p.answer) + 1)
    assert legs.verify(p, f"Counting...\n<answer>{p.answer}</answer>") == 1.0
    assert legs.verify(p, f"Counting...\nAnswer: {p.answer}") == 1.0
    assert legs.verify(p, f"Answer: {wrong}") == 0.0
    assert legs.verify(p, "I cannot count these.") is None


def test_scorer_is_reasoning_gyms_not_exact_match():
    task = get_task("rg:spell_backward")
    p = task.problems("train", 1)[0]
    # spell_backward's own scorer ignores case; an exact comparison would not
    assert task.verify(p, f"<answer>{p.answer.upper()}</answer>") == 1.0
    assert task.verify(p, f"<answer>{p.answer}x</answer>") < 1.0


def test_verify_survives_a_json_round_trip(legs):
    p = legs.problems("train", 1)[0]
    back = Problem.from_dict(json.loads(json.dumps(p.to_dict())))
    assert legs.verify(back, f"<answer>{p.answer}</answer>") == 1.0


def test_unknown_dataset_lists_the_names():
    with pytest.raises(UnknownName) as err:
        get_task("rg:no_such_dataset")
    assert "no_such_dataset" in str(err.value) and "leg_counting" in str(err.value)
    with pytest.raises(UnknownName):
        get_task("rg")


def test_no_step_traces_but_a_clear_error(legs):
    p = legs.problems("train", 1)[0]
    for call in (lambda: legs.teacher_trace(p), lambda: legs.trace_steps(p),
                 lambda: legs.check_steps(p, ["a step"]), lambda: legs.first_error(p, ["x"])):
        with pytest.raises(Unsupported, match="Monte-Carlo|STaR"):
            call()
    assert issubclass(Unsupported, PonderError) and issubclass(Unsupported, NotImplementedError)


def test_generate_draws_from_the_rng(legs):
    a = legs.generate(random.Random(1), 2)
    assert a.difficulty == 2 and a.id == legs.generate(random.Random(1), 2).id
