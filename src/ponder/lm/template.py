"""How a question and a chain of thought are laid out as text for ponder's reasoners.

    <question>\n<think>\n<step>\n<step>\n...</think>\nAnswer: <answer>

The prompt ends right after the opening marker; everything the model writes up to the
closing marker is hidden thinking, and the answer line follows it. "Direct" prompts close
the thinking immediately, so the answer must follow the question with no chain of thought.
Only strings live here: the layer knows nothing of tasks.
"""

from __future__ import annotations

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


def format_prompt(question: str, think: bool = True) -> str:
    """The text a model is asked to continue."""
    head = f"{question}\n{THINK_OPEN}\n"
    return head if think else f"{head}{THINK_CLOSE}\n"


def format_completion(steps_and_answer: str, think: bool = True) -> str:
    """Turn a teacher trace (step lines, then the answer line) into the completion text a
    model should produce after ``format_prompt(question, think)``."""
    if not think:
        return steps_and_answer.splitlines()[-1]
    *steps, answer = steps_and_answer.splitlines()
    body = "".join(f"{s}\n" for s in steps)
    return f"{body}{THINK_CLOSE}\n{answer}"


def split_thinking(completion: str) -> tuple[str, str]:
    """``(thinking, visible)`` parts of a completion. Without a closing marker the whole
    text is thinking (the model ran out of budget before answering)."""
    head, sep, tail = completion.partition(THINK_CLOSE)
    if not sep:
        return completion.strip("\n"), ""
    return head.strip("\n"), tail.strip("\n")


def thinking_steps(completion: str) -> list[str]:
    """The non-empty lines of the hidden thinking, i.e. the reasoning steps."""
    thinking, _ = split_thinking(completion)
    return [s for s in thinking.splitlines() if s.strip()]
