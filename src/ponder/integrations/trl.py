"""ponder's tasks and verifiers for TRL users: a ``datasets.Dataset`` of problems and
reward functions with TRL's signature.

    from trl import GRPOConfig, GRPOTrainer
    from ponder.integrations.trl import task_dataset, task_reward

    data = task_dataset("arith", 1000, difficulty=[1, 2])
    trainer = GRPOTrainer(model="models/smollm2", reward_funcs=[task_reward()],
                          train_dataset=data, args=GRPOConfig(...))

The data set has a ``prompt`` column (ponder's raw layout by default; a model's own
prompt with ``lm=``, or TRL's conversational form with ``conversational=True``), the
canonical ``answer``, ``task``, ``difficulty``, and ``problem``: the whole Problem as JSON,
which the reward reads back, so a reward needs no other state than the task families.

Rewards read the answer where ponder does, after ``</think>``. One departure: TRL decodes
completions with special tokens removed, and in ponder's tokenizer (as in Qwen3's)
``</think>`` is one, so a completion without the marker is judged whole; the answer rule
of the task (an ``Answer:`` line for the built-in ones) still decides what counts as an
answer, so a number in the reasoning is not taken for one.

Only ``datasets`` is needed here (``pip install ponder[trl]`` brings it with TRL).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ponder.errors import InvalidInput, UnknownName
from ponder.lm.template import THINK_CLOSE, prompt_for, split_thinking, with_think_instruction
from ponder.tasks import get_task, parse_tasks
from ponder.tasks.base import Problem, Split, Task
from ponder.verify.rewards import completion_text

if TYPE_CHECKING:
    import datasets

#: TRL's reward function: ``(prompts, completions, **columns) -> one value per completion``
RewardFunc = Callable[..., list[float | None]]
PROBLEM_COLUMN = "problem"


def _tasks(tasks: str | Task | Sequence[Task]) -> list[Task]:
    if isinstance(tasks, str):
        return parse_tasks(tasks)
    return [tasks] if isinstance(tasks, Task) else list(tasks)


def problem_row(problem: Problem, *, think: bool = True, lm: Any = None,
                conversational: bool = False) -> dict[str, Any]:
    """One data-set row: the prompt, the answer and the serialized problem.

    >>> row = problem_row(Problem("p1", "arith", "Sum 3 4", "7", 1))
    >>> row["prompt"], row["answer"], Problem.from_dict(json.loads(row["problem"])).id
    ('Sum 3 4\\n<think>\\n', '7', 'p1')
    """
    if conversational:
        if lm is not None or not think:
            raise InvalidInput("conversational prompts are rendered by TRL with the "
                               "tokenizer's chat template, and the model opens its thinking "
                               "itself: lm= and think=False need conversational=False")
        prompt: Any = with_think_instruction([{"role": "user", "content": problem.prompt}])
    else:
        prompt = prompt_for(lm, problem.prompt, think)
    return {"prompt": prompt, "answer": problem.answer, "task": problem.task,
            "difficulty": float(problem.difficulty),
            PROBLEM_COLUMN: json.dumps(problem.to_dict())}


def task_dataset(tasks: str | Task | Sequence[Task], n: int, *, split: Split = "train",
                 seed: int = 0, difficulty: int | list[int] | None = None,
                 think: bool = True, lm: Any = None,
                 conversational: bool = False) -> datasets.Dataset:
    """``n`` problems of each task family (``"arith,chain"``, a Task or a list of them)
    as a ``datasets.Dataset``, with the split, seed and levels of ``Task.problems``.

    ``lm``: lay prompts out as this ponder LM does (``HFLM`` with a chat template renders
    it, with the think/answer instruction); default ponder's raw layout. With
    ``conversational=True`` the prompt is a list of messages for TRL to template; the
    model then opens its thinking itself. ``think=False`` asks for direct answers.
    """
    import datasets

    if n < 1:
        raise InvalidInput(f"n must be >= 1, got {n}")
    rows = [problem_row(p, think=think, lm=lm, conversational=conversational)
            for task in _tasks(tasks)
            for p in task.problems(split, n, seed=seed, difficulty=difficulty)]
    return datasets.Dataset.from_list(rows)


def visible_answer(completion: str) -> str:
    """What a reward judges: the text after ``</think>``, or all of it when the marker is
    absent (TRL strips special tokens, see the module docstring).

    >>> visible_answer("3 + 4 = 7\\n</think>\\nAnswer: 7"), visible_answer("Answer: 7")
    ('Answer: 7', 'Answer: 7')
    """
    if THINK_CLOSE not in completion:
        return completion
    return split_thinking(completion)[1]


def task_reward(tasks: str | Task | Sequence[Task] | None = None, *,
                no_answer: float | None = None) -> RewardFunc:
    """A TRL reward function that scores each completion with its task's verifier.

    It reads each problem from the ``problem`` column of ``task_dataset``; ``tasks``
    are the families to judge with (default: looked up by the problem's task name, which
    covers the built-in and named external families). Scores are the verifier's (1.0
    right, 0.0 wrong); a completion with no answer gets ``no_answer``, by default None,
    which TRL counts as "could not judge".

    >>> reward = task_reward("arith")
    >>> rows = [problem_row(Problem("p1", "arith", "Sum 3 4", "7", 1))] * 3
    >>> reward([r["prompt"] for r in rows], ["3+4=7\\n</think>\\nAnswer: 7",
    ...        [{"role": "assistant", "content": "Answer: 8"}], "about 7"],
    ...        problem=[r["problem"] for r in rows])
    [1.0, 0.0, None]
    """
    known = {t.name: t for t in _tasks(tasks)} if tasks is not None else {}
    fixed = tasks is not None

    def task_of(name: str) -> Task:
        if name not in known:
            if fixed:
                raise UnknownName("task", name, list(known))
            known[name] = get_task(name)
        return known[name]

    def ponder_verifier(prompts: Sequence[Any], completions: Sequence[Any], *,
                        problem: Sequence[str] | None = None,
                        **columns: Any) -> list[float | None]:
        if problem is None:
            raise InvalidInput("the reward needs the 'problem' column of "
                               "ponder.integrations.trl.task_dataset in the data set")
        if len(problem) != len(completions):
            raise InvalidInput(f"{len(completions)} completions but {len(problem)} problems")
        out: list[float | None] = []
        for serialized, completion in zip(problem, completions, strict=True):
            p = Problem.from_dict(json.loads(serialized))
            score = task_of(p.task).verify(p, visible_answer(completion_text(completion)))
            out.append(no_answer if score is None else score)
        return out

    return ponder_verifier
