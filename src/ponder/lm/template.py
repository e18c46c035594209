"""How a question and a chain of thought are laid out as text for ponder's reasoners.

    <question>\n<think>\n<step>\n<step>\n...</think>\nAnswer: <answer>

The prompt ends right after the opening marker; everything the model writes up to the
closing marker is hidden thinking, and the answer line follows it. "Direct" prompts close
the thinking immediately, so the answer must follow the question with no chain of thought.
Only strings live here: the layer knows nothing of tasks.

That raw layout is what ponder's own models are trained on. A model may lay out its
prompts its own way by defining the optional methods ``format_prompt(question, think)``
and ``format_chat(messages, think)``: an instruct model (``HFLM`` with a chat template)
renders the conversation, with ``THINK_INSTRUCTION`` as system message, through its
template and then opens the thinking, so that completions have the same shape for every
model. Callers that turn a question into a prompt ask ``prompt_for(lm, question)``
(``chat_prompt_for(lm, messages)`` for a conversation); models without the methods get
the raw layout, byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

#: What an instruct model is told (as the system message) so that it writes what ponder
#: reads: hidden reasoning, then the answer line the verifiers look for.
THINK_INSTRUCTION = (
    f"Think step by step inside {THINK_OPEN} ... {THINK_CLOSE}, one step per line. "
    f"After {THINK_CLOSE}, write one line, Answer: followed by the final answer, and "
    "nothing else."
)

#: A conversation as chat templates take it: ``{"role": ..., "content": ...}`` dicts.
Message = dict[str, str]


def open_thinking(think: bool = True) -> str:
    """What every prompt ends with: the opening marker (the model thinks next) or, for a
    direct prompt, an empty thinking block (the model answers next)."""
    return f"{THINK_OPEN}\n" if think else f"{THINK_OPEN}\n{THINK_CLOSE}\n"


def format_prompt(question: str, think: bool = True) -> str:
    """The text ponder's own models are asked to continue (the raw layout).

    >>> format_prompt("Sum 3 4")
    'Sum 3 4\\n<think>\\n'
    """
    return f"{question}\n{open_thinking(think)}"


def join_messages(messages: Sequence[Message]) -> str:
    """A conversation as one question for models without a chat template: the non-empty
    message texts in order, one per line."""
    return "\n".join(m["content"] for m in messages if m.get("content"))


def with_think_instruction(messages: Sequence[Message]) -> list[Message]:
    """``messages`` with ``THINK_INSTRUCTION`` first in one leading system message (a
    conversation's own system and developer messages follow it there, as many templates
    accept a single system message at the start only).

    >>> [m["role"] for m in with_think_instruction([{"role": "user", "content": "2+2?"}])]
    ['system', 'user']
    """
    head = [m["content"] for m in messages if m["role"] in ("system", "developer")
            and m.get("content")]
    rest = [dict(m) for m in messages if m["role"] not in ("system", "developer")]
    return [{"role": "system", "content": "\n\n".join([THINK_INSTRUCTION, *head])}, *rest]


def fold_system(messages: Sequence[Message]) -> list[Message]:
    """The same conversation for templates that refuse a system role: the system text
    opens the first user message.

    >>> fold_system([{"role": "system", "content": "Be brief."},
    ...              {"role": "user", "content": "2+2?"}])
    [{'role': 'user', 'content': 'Be brief.\\n\\n2+2?'}]
    """
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    out = [dict(m) for m in messages if m["role"] != "system"]
    first = next((m for m in out if m["role"] == "user"), None)
    if system and first is not None:
        first["content"] = f"{system}\n\n{first['content']}"
    elif system:
        out.insert(0, {"role": "user", "content": system})
    return out


def prompt_for(lm: Any, question: str, think: bool = True) -> str:
    """The prompt ``lm`` continues for ``question``: its own layout when the model
    defines ``format_prompt`` (an instruct model's chat template), else the raw one."""
    own = getattr(lm, "format_prompt", None)
    return own(question, think) if own is not None else format_prompt(question, think)


def chat_prompt_for(lm: Any, messages: Sequence[Message], think: bool = True) -> str:
    """The prompt ``lm`` continues for a conversation: the roles go through the model's
    ``format_chat`` when it has one; otherwise the texts are joined into one question."""
    own = getattr(lm, "format_chat", None)
    if own is not None:
        return own(list(messages), think)
    return format_prompt(join_messages(messages), think)


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
