"""Reasoning summaries: what a user sees of a chain of thought they may not read.

Two summarizers share one signature, ``summarize(source, style, lm) -> list[str]`` (one
string per summary part):

- ``ExtractiveSummarizer`` (default) is deterministic and needs no model, which suits the
  built-in reasoners whose thinking is terse step lines. It keeps the key intermediate
  results (``m=f*v=10*16=160=7`` becomes ``m = 7``), the checks made, and counts the
  candidates tried and the backtracks of search traces (countdown's ``back: ...``
  lines), keeping only the results of the path that worked; with several chains it
  reports how many agreed. ``concise`` is one sentence, ``detailed`` one part per aspect.
- ``LMSummarizer`` asks a language model to write the summary, for backends that write
  prose (o1's summaries are written by a model too).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from ponder.errors import ConfigError, UnknownName
from ponder.lm.base import LM

STYLES = ("auto", "concise", "detailed")

# A line is classified by the first pattern it matches, in this order.
_BACKTRACK = re.compile(
    r"^\s*back\b|\b(backtrack\w*|dead[ -]?end|undo\w*|go(?:ing)? back|revert\w*|retry\w*|"
    r"try again|wrong|mistake|moving to node|no solution|fail\w*)\b", re.I)
_CHECK = re.compile(r"\b(check\w*|verif\w*|confirm\w*|ok|correct)\b|✓", re.I)
_ATTEMPT = re.compile(r"^\s*(try|trying|tried|exploring|attempt\w*)\b", re.I)
_EQUALS = re.compile(r"(?<![!<>=])=(?!=)")  # "=", not "==", "!=", "<=", ">="
_LABELLED = re.compile(r"^[^:]{1,40}:\s*\S")  # "04123: aedbc" (a state after a step)
MAX_RESULTS, MAX_CHECKS, MAX_CHARS = 6, 3, 80


@dataclass
class SummarySource:
    """What a summarizer may read: the hidden thinking of the chosen chain and the final
    answers of every chain drawn (for agreement)."""

    question: str
    thinking: str
    answer: str | None
    attempts: list[str | None] = field(default_factory=list)


class Summarizer(Protocol):
    def summarize(self, source: SummarySource, style: str = "auto",
                  lm: LM | None = None) -> list[str]: ...


def resolve_style(style: str | None) -> str:
    """``auto`` is the most detailed summary available, as with OpenAI's models."""
    if style not in STYLES:
        raise UnknownName("summary style", str(style), STYLES)
    return "detailed" if style == "auto" else style


# -- extractive ---------------------------------------------------------------------


def _short(line: str) -> str:
    line = " ".join(line.split()).rstrip(".,;")
    return line if len(line) <= MAX_CHARS else line[: MAX_CHARS - 3] + "..."


def key_result(line: str) -> str:
    """The result a step line establishes: the name and final value of a chain of
    equalities, or the line itself.

    >>> key_result("b = a + 7 = 12")
    'b = 12'
    >>> key_result("m=f*v=10*16=160=7")
    'm = 7'
    >>> key_result("17 + 25 = 42")
    '17 + 25 = 42'
    """
    parts = [p.strip() for p in _EQUALS.split(line)]
    if len(parts) >= 3 and all(parts):
        return _short(f"{parts[0]} = {parts[-1]}")
    return _short(line)


@dataclass
class TraceDigest:
    steps: int = 0
    results: list[str] = field(default_factory=list)  # since the last backtrack
    checks: list[str] = field(default_factory=list)
    attempts: int = 0
    backtracks: int = 0


def digest(thinking: str) -> TraceDigest:
    """Sort the step lines of a chain of thought into results, checks and backtracks."""
    d = TraceDigest()
    for raw in thinking.splitlines():
        line = raw.strip()
        if not line:
            continue
        d.steps += 1
        if _ATTEMPT.search(line):
            d.attempts += 1
        if _BACKTRACK.search(line):
            d.backtracks += 1
            d.results = []  # that path was abandoned
        elif _CHECK.search(line):
            d.checks.append(_short(line))
        elif (_EQUALS.search(line) or _LABELLED.search(line)) and not _ATTEMPT.search(line):
            result = key_result(line)
            if result not in d.results:
                d.results.append(result)
    return d


def _few(items: list[str], k: int) -> list[str]:
    """At most ``k`` items: the first and the last ones, which frame the path."""
    if len(items) <= k:
        return items
    head = k // 2
    return [*items[:head], "...", *items[len(items) - (k - head):]]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class ExtractiveSummarizer:
    """Deterministic summaries built from the step lines themselves."""

    def summarize(self, source: SummarySource, style: str = "auto",
                  lm: LM | None = None) -> list[str]:
        d, style = digest(source.thinking), resolve_style(style)
        agree = _agreement(source)
        if style == "concise":
            return [_concise(d, source.answer, agree)]
        how = [f"trying {_plural(d.attempts, 'candidate')}"] if d.attempts else []
        how += [f"backtracking {_plural(d.backtracks, 'time')}"] if d.backtracks else []
        path = f"Worked through {_plural(d.steps, 'step')}"
        parts = [path + (", " + " and ".join(how) if how else "") + "."]
        if d.results:
            head = "The path that worked" if d.backtracks else "Key results"
            parts.append(f"{head}: " + "; ".join(_few(d.results, MAX_RESULTS)) + ".")
        if d.checks:
            more = len(d.checks) - MAX_CHECKS
            tail = f" (and {_plural(more, 'more check')})" if more > 0 else ""
            parts.append("Checked: " + "; ".join(d.checks[:MAX_CHECKS]) + tail + ".")
        if agree:
            parts.append(agree + ".")
        if source.answer is None:
            parts.append("No final answer was reached within the thinking budget.")
        return parts


def _agreement(source: SummarySource) -> str:
    if len(source.attempts) < 2:
        return ""
    votes = Counter(a for a in source.attempts if a is not None)
    top = votes.get(source.answer, 0) if source.answer is not None else 0
    if source.answer is None:
        return f"None of {len(source.attempts)} independent attempts reached an answer"
    return f"{top} of {len(source.attempts)} independent attempts reached {source.answer}"


def _concise(d: TraceDigest, answer: str | None, agree: str) -> str:
    notes = [_plural(n, w) for n, w in ((d.backtracks, "backtrack"), (len(d.checks), "check"))
             if n]
    text = f"Worked through {_plural(d.steps, 'step')}"
    if notes:
        text += f" ({', '.join(notes)})"
    if d.results:
        text += f" to {d.results[-1]}"
    elif answer is None:
        text += " without reaching an answer"
    if agree:
        text += f"; {agree[0].lower()}{agree[1:]}"
    return text + "."


# -- written by a model ---------------------------------------------------------------


class LMSummarizer:
    """Asks a language model to summarize; ``lm=None`` uses the served model (passed in
    by the engine, so that its calls are batched with everything else)."""

    LENGTH = {"concise": ("in one sentence", 80), "detailed": ("in a short paragraph", 300)}

    def __init__(self, lm: LM | None = None):
        self.lm = lm
        self._lock = threading.Lock()  # a model of its own is used from many threads

    def prompt(self, source: SummarySource, style: str) -> str:
        how, _ = self.LENGTH[style]
        return (f"Summarize {how} the reasoning below for a reader who will not see it: "
                "the key intermediate results, the checks made and any dead ends. Do not "
                f"repeat it line by line.\n\nQuestion: {source.question}\n\nReasoning:\n"
                f"{source.thinking}\n\nFinal answer: {source.answer}\n\nSummary:")

    def summarize(self, source: SummarySource, style: str = "auto",
                  lm: LM | None = None) -> list[str]:
        style = resolve_style(style)
        model = self.lm or lm
        if model is None:
            raise ConfigError("LMSummarizer needs a model: pass one here or to __init__")
        _, max_tokens = self.LENGTH[style]
        args = dict(n=1, max_tokens=max_tokens, temperature=0.0, stop=["\n\n"], seed=0)
        if self.lm is not None:
            with self._lock:
                [[out]] = model.generate([self.prompt(source, style)], **args)
        else:
            [[out]] = model.generate([self.prompt(source, style)], **args)
        text = out.text.strip()
        return [text] if text else []


SUMMARIZERS = {"extractive": ExtractiveSummarizer, "lm": LMSummarizer}


def get_summarizer(name: str, lm: LM | None = None) -> Summarizer:
    """``extractive`` or ``lm`` (``lm`` given: that model writes; else the served one)."""
    if name not in SUMMARIZERS:
        raise UnknownName("summarizer", name, list(SUMMARIZERS))
    return LMSummarizer(lm) if name == "lm" else ExtractiveSummarizer()
