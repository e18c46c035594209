import random
from typing import ClassVar

import pytest

from ponder.errors import InvalidInput
from ponder.eval.accuracy import (
    evaluate_task,
    evaluate_tasks,
    judge,
    mean_accuracy,
    token_budgets,
)
from ponder.lm.function import FunctionLM
from ponder.lm.template import THINK_CLOSE, format_completion
from ponder.tasks import get_task
from ponder.tasks.arith import ArithTask
from tests.toy import SumTask, chat_layout, nums_of, own_layout


class DirectSumTask(SumTask):
    name = "toysum_direct"
    styles: ClassVar[tuple[str, ...]] = ("cot", "direct")


def policy(wrong_from: int = 99, close: bool = True) -> FunctionLM:
    """Running sums; the answer is off by one when the problem has >= wrong_from + 1
    numbers (i.e. at difficulty >= wrong_from). Records the prompts it sees."""
    seen: list[str] = []

    def fn(prompt: str, rng: random.Random, temperature: float) -> str:
        seen.append(prompt)
        nums = nums_of(prompt)
        s = sum(nums) + (len(nums) - 1 >= wrong_from)
        if prompt.endswith(f"{THINK_CLOSE}\n"):  # direct format
            return f"Answer: {s}"
        return f"s={s}\n" + (f"{THINK_CLOSE}\nAnswer: {s}" if close else f"Answer: {s}")

    lm = FunctionLM(fn)
    lm.seen = seen
    return lm


def test_accuracy_per_difficulty_on_held_out_problems():
    task = SumTask()
    lm = policy(wrong_from=4)
    report = evaluate_task(lm, task, n=24, seed=1, batch_size=10, keep_records=True)
    assert report.n == 24 and report.task == "toysum"
    assert list(report.by_difficulty) == ["1", "2", "3", "4", "5", "6"]
    assert report.by_difficulty == {"1": 1.0, "2": 1.0, "3": 1.0, "4": 0.0, "5": 0.0, "6": 0.0}
    assert report.n_by_difficulty == dict.fromkeys(report.by_difficulty, 4)
    assert report.accuracy == pytest.approx(0.5) and report.answered == 1.0
    assert 1 <= lm.calls <= 3  # calls of 10 prompts, some merged again by the batcher
    held_out = {p.id for p in task.problems("test", 24, seed=1)}
    assert {r["id"] for r in report.records} == held_out
    assert all(task.split(p) == "test" for p in task.problems("test", 24, seed=1))


def test_the_generation_order_changes_what_is_asked_first_not_the_results():
    task = SumTask()
    first, records = {}, {}
    for longest in (False, True):
        lm = policy(wrong_from=4)
        report = evaluate_task(lm, task, n=24, seed=1, batch_size=4, keep_records=True,
                               longest_first=longest)
        first[longest] = nums_of(lm.seen[0])
        assert report.by_difficulty == {"1": 1.0, "2": 1.0, "3": 1.0, "4": 0.0, "5": 0.0,
                                        "6": 0.0}
        records[longest] = sorted(report.records, key=lambda r: r["id"])
    assert records[True] == records[False]
    # the token caps grow with the level: the largest-cap problems go first when asked
    assert len(first[True]) > len(first[False])


def test_difficulty_filter_and_multi_task_mean():
    lm = policy(wrong_from=3)
    reports = evaluate_tasks(lm, [SumTask(), DirectSumTask()], n=6, difficulty=[2, 3])
    assert all(set(r.by_difficulty) == {"2", "3"} for r in reports.values())
    assert all(r.accuracy == pytest.approx(0.5) for r in reports.values())
    assert mean_accuracy(reports) == pytest.approx(0.5)
    assert lm.calls == 1  # all tasks decoded in one batched pass


def test_thinking_that_never_closes_is_not_an_answer():
    task = SumTask()
    p = task.problems("test", 1, seed=0, difficulty=2)[0]
    assert judge(task, p, f"s=1\nAnswer: {p.answer}") is None
    assert judge(task, p, f"Answer: {p.answer}\n{THINK_CLOSE}\nAnswer: 0") == 0.0
    assert judge(task, p, f"x\n{THINK_CLOSE}\nAnswer: {p.answer}") == 1.0
    report = evaluate_task(policy(close=False), task, n=6)
    assert report.accuracy == 0.0 and report.answered == 0.0


def test_direct_uses_the_no_thinking_prompt_and_needs_a_direct_style():
    lm = policy()
    report = evaluate_task(lm, DirectSumTask(), n=6, direct=True)
    assert report.direct and report.accuracy == 1.0
    assert all(s.endswith(f"<think>\n{THINK_CLOSE}\n") for s in lm.seen)
    with pytest.raises(InvalidInput, match="no direct"):
        evaluate_task(lm, SumTask(), n=6, direct=True)


def test_token_budget_covers_teacher_traces_and_caps_generation():
    task = SumTask()
    lm = policy()
    caps = token_budgets(task, lm)
    assert set(caps) == set(range(1, 7))
    for p in task.problems("test", 12, seed=0):
        assert caps[p.difficulty] >= len(format_completion(task.teacher_trace(p)))
    assert caps[6] > caps[1]
    report = evaluate_task(lm, task, n=6, max_tokens=5)  # too short to reach the answer
    assert report.accuracy == 0.0 and report.mean_tokens == 5.0


def test_token_budget_follows_the_style_the_model_was_trained_on():
    task, lm = ArithTask(), policy()
    default = token_budgets(task, lm)
    lm.trace_styles = {"arith": "consumed"}  # longer traces than the default's
    consumed = token_budgets(task, lm)
    for p in task.problems("train", 16, seed=0, difficulty=7):
        assert consumed[7] >= 1.5 * len(format_completion(task.teacher_trace(p, "consumed")))
    assert all(consumed[d] > default[d] for d in (5, 6, 7))
    mul = get_task("arith:mul")  # a variant: the style its family was trained in
    for p in mul.problems("train", 16, seed=0, difficulty=7):
        assert token_budgets(mul, lm)[7] >= 1.5 * len(format_completion(
            mul.teacher_trace(p, "consumed")))
    lm.trace_styles = {"arith": "no-such-style"}  # an unknown style: the default's caps
    assert token_budgets(task, lm) == default


def test_every_accuracy_carries_its_wilson_interval_and_answer_rule():
    from ponder.eval.stats import wilson

    report = evaluate_task(policy(wrong_from=4), SumTask(), n=24, seed=1)
    assert report.ci95 == pytest.approx(list(wilson(12, 24)), abs=1e-4)
    assert report.ci95_by_difficulty["1"] == pytest.approx(list(wilson(4, 4)), abs=1e-4)
    assert report.ci95_by_difficulty["6"] == pytest.approx(list(wilson(0, 4)), abs=1e-4)
    d = report.to_dict()
    assert d["ci95"] == report.ci95 and d["answer_rule"] == "answer-line"
    assert d["score"] is None  # every verdict was 0 or 1: the accuracy says it all


class HalfCreditSumTask(SumTask):
    """Like reasoning-gym scorers: an answer off by one earns half credit."""

    name = "toysum_half"

    def verify(self, problem, completion):
        got = super().verify(problem, completion)
        if got == 0.0 and f"Answer: {int(problem.answer) + 1}" in completion:
            return 0.5
        return got


def test_partial_credit_is_a_score_never_an_accuracy():
    # wrong by one from difficulty 4 on: half credit on 12 of 24 problems
    report = evaluate_task(policy(wrong_from=4), HalfCreditSumTask(), n=24, seed=1,
                           keep_records=True)
    assert report.accuracy == pytest.approx(0.5)  # only full marks count
    assert report.by_difficulty["4"] == 0.0 and report.by_difficulty["1"] == 1.0
    assert report.score == pytest.approx(0.75)
    assert report.score_by_difficulty["4"] == 0.5 and report.score_by_difficulty["1"] == 1.0
    half = [r for r in report.records if r["difficulty"] >= 4]
    assert half and all(r["score"] == 0.5 and r["correct"] is False for r in half)
    assert all(r["correct"] is True for r in report.records if r["difficulty"] < 4)


def test_a_model_with_its_own_layout_is_asked_in_it():
    # as HFLM with a chat template: the raw layout would make its accuracy 0 by construction
    for task, direct in [(SumTask(), False), (DirectSumTask(), True)]:
        lm = own_layout(policy())
        reports = evaluate_tasks(lm, [task], n=6, seed=2, direct=direct)
        assert reports[task.name].accuracy == 1.0
        asked = [chat_layout(p.prompt, not direct) for p in task.problems("test", 6, seed=2)]
        assert sorted(lm.seen) == sorted(asked)
