"""Training data: (prompt, completion) examples, the streams that yield them, and batches.

An example is laid out exactly as the model sees it at test time:

    <bos> format_prompt(question, think) format_completion(trace, think) <eos>

and the loss covers only the completion and the closing ``<eos>`` (the model must learn
to answer and to stop, not to predict questions it will always be given).

Every stream is *indexable*: ``stream[i]`` is the i-th example, a pure function of the
stream's seed and ``i``. Resuming a run therefore needs only the number of examples
already consumed, not a pickled random state, and two runs with the same seed see the
same data in the same order.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import torch

from ponder.errors import ConfigError, InvalidInput
from ponder.lm.template import format_completion, prompt_for
from ponder.lm.tokenizer import CharTokenizer
from ponder.tasks.base import Problem, Task
from ponder.train.curriculum import Competence

DIRECT = "direct"
Encoded = tuple[list[int], list[int]]  # (ids, loss mask), see encode_example
CURRICULA = ("uniform", "competence")
PAD_SLOTS = ("sentences", "words", "chars")


@dataclass(frozen=True)
class Example:
    """One training pair: the prompt text the model is given and the text it must write."""

    prompt: str
    completion: str
    # where it came from, e.g. (task name, difficulty) for the curriculum; not compared
    source: Any = field(default=None, compare=False)


class ExampleStream(Protocol):
    """An endless, deterministic sequence of examples."""

    def __getitem__(self, i: int) -> Example: ...


def task_example(task: Task, problem: Problem, style: str | None = None,
                 lm: Any = None) -> Example:
    """The teacher's example for ``problem``: its trace in ``style`` (default: the task's
    default style); the "direct" style closes the thinking at once (no chain of thought).
    The prompt is in ``lm``'s layout (``prompt_for``; None: ponder's raw one)."""
    style = task.check_style(style or task.styles[0])
    think = style != DIRECT
    trace = task.teacher_trace(problem, style)
    return Example(prompt_for(lm, problem.prompt, think), format_completion(trace, think),
                   source=(task.name, problem.difficulty, style))


def encode_example(tok: CharTokenizer, ex: Example) -> tuple[list[int], list[int]]:
    """``(ids, loss_mask)``: bos + prompt + completion + eos; mask 1 on completion + eos.

    The mask is aligned with ``ids`` (mask[j] says whether token j is a target), so the
    loss for position j-1 -> j counts when mask[j] is 1.
    """
    prompt = tok.encode(ex.prompt, bos=True)
    completion = tok.encode(ex.completion, eos=True)
    return prompt + completion, [0] * len(prompt) + [1] * len(completion)


class Segment(NamedTuple):
    """Where one example sits in a batch: its targets are ``targets[row, start:stop]``."""

    row: int
    start: int
    stop: int
    source: Any  # the example's ``source``


@dataclass
class Batch:
    idx: torch.Tensor  # (B, T) input ids
    targets: torch.Tensor  # (B, T) next-token ids
    mask: torch.Tensor  # (B, T) 1.0 where targets[b, t] is a completion token
    segments: list[Segment] = field(default_factory=list)  # one per example
    positions: torch.Tensor | None = None  # (B, T) rotary positions (None: 0..T-1)
    digits: torch.Tensor | None = None  # (B, T) digit indices (None: the runs in idx)

    @property
    def n_tokens(self) -> int:
        """Tokens the model processes (padding excluded): the unit of tokens/s."""
        return int((self.targets != -1).sum())

    @property
    def pad_share(self) -> float:
        """Share of the (B, T) positions that are padding."""
        return 1.0 - self.n_tokens / max(self.targets.numel(), 1)


def collate(encoded: Sequence[tuple[list[int], list[int]]], pad_id: int,
            max_len: int, sources: Sequence[Any] | None = None) -> Batch:
    """Right-pad a list of encoded examples into one batch of next-token pairs
    (``sources``: the examples' ``source``, for the batch's segments)."""
    too_long = [len(ids) for ids, _ in encoded if len(ids) > max_len + 1]
    if too_long:
        raise InvalidInput(
            f"a training example has {max(too_long)} tokens, more than the model's context "
            f"of {max_len + 1}; raise max_seq_len in the model config or shorten the examples"
        )
    T = max(len(ids) for ids, _ in encoded) - 1
    B = len(encoded)
    idx = torch.full((B, T), pad_id, dtype=torch.long)
    targets = torch.full((B, T), -1, dtype=torch.long)
    mask = torch.zeros((B, T), dtype=torch.float32)
    segments = []
    for b, (ids, m) in enumerate(encoded):
        n = len(ids) - 1
        idx[b, :n] = torch.tensor(ids[:-1])
        targets[b, :n] = torch.tensor(ids[1:])
        mask[b, :n] = torch.tensor(m[1:], dtype=torch.float32)
        segments.append(Segment(b, 0, n, sources[b] if sources is not None else None))
    return Batch(idx, targets, mask, segments)


@dataclass
class MixtureConfig:
    """How teacher examples are drawn from several task families.

    weights: relative sampling weight per task name (missing names weigh 1).
    direct_fraction: share of examples, for tasks that have a "direct" style, written
        with no chain of thought, so the model can also answer directly when asked.
    max_difficulty: highest difficulty level drawn per task name (missing names: the
        task's own maximum). Short problems give a small model many more steps in a fixed
        budget; held-out evaluation still covers every level.
    curriculum: how a task's level is drawn: "uniform" over its range, or "competence"
        (levels in order, as the model masters them; ``ponder.train.curriculum``).
    styles: trace style per task name instead of the task's default (e.g. the "coarse"
        traces of a format ablation); the direct share is drawn as usual.
    prompt_pad: up to this many extra spaces in each question (drawn uniformly per
        example, 0 = none); a number for every task, or one per task name (missing
        names: 0), so that where a fact sits in the prompt, and how far back from
        the trace, varies more than the problems themselves make it vary: a look-up that
        counts positions stops working and one by content keeps working. Held-out
        problems are asked unpadded.
    pad_at: where the spaces go: "sentences" (after the question's sentences and at its
        end), "words" (after any of its words) or "chars" (after any character, inside
        numbers too: the random spaces of Shen et al. 2023).
    """

    weights: dict[str, float] | None = None
    direct_fraction: float = 0.1
    max_difficulty: dict[str, int] | None = None
    curriculum: str = "uniform"
    styles: dict[str, str] | None = None
    prompt_pad: int | dict[str, int] = 0
    pad_at: str = "sentences"

    def __post_init__(self) -> None:
        pads = (self.prompt_pad.values() if isinstance(self.prompt_pad, dict)
                else [self.prompt_pad])
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in pads):
            raise ConfigError(f"prompt_pad must be an integer >= 0 (or one per task), got "
                              f"{self.prompt_pad!r}")
        if self.pad_at not in PAD_SLOTS:
            raise ConfigError(f"pad_at must be one of {PAD_SLOTS}, got {self.pad_at!r}")
        if not 0.0 <= self.direct_fraction <= 1.0:
            raise ConfigError(f"direct_fraction must be in [0, 1], got {self.direct_fraction}")
        if self.weights and any(not math.isfinite(w) or w < 0 for w in self.weights.values()):
            raise ConfigError(f"task weights must be finite and >= 0, got {self.weights}")
        if self.max_difficulty and any(not isinstance(v, int) or v < 1
                                       for v in self.max_difficulty.values()):
            raise ConfigError(f"max_difficulty levels must be integers >= 1, got "
                              f"{self.max_difficulty}")
        if self.curriculum not in CURRICULA:
            raise ConfigError(f"curriculum must be one of {CURRICULA}, got "
                              f"{self.curriculum!r}")


class TaskMixture:
    """Endless stream of teacher examples over TRAIN problems of several tasks.

    Example i: pick a task by weight, a difficulty uniformly over the task's range (up to
    its ``max_difficulty`` cap, if any), a train-split problem at that difficulty, then
    the "direct" style with probability ``direct_fraction`` (where the task has one) or
    else the task's default style. With the "competence" curriculum the difficulty is
    drawn by the level weights of ``self.competence`` in force (which the training loop
    updates), so example i is a function of the seed, i and those weights.
    """

    def __init__(self, tasks: Sequence[Task], seed: int = 0,
                 config: MixtureConfig | None = None):
        if not tasks:
            raise ConfigError("a task mixture needs at least one task")
        self.tasks, self.seed = list(tasks), seed
        self.config = config or MixtureConfig()
        weights = self.config.weights or {}
        unknown = set(weights) - {t.name for t in self.tasks}
        if unknown:
            raise ConfigError(f"weights given for tasks not in the mixture: {sorted(unknown)}")
        self.weights = [float(weights.get(t.name, 1.0)) for t in self.tasks]
        caps = self.config.max_difficulty or {}
        unknown = set(caps) - {t.name for t in self.tasks}
        if unknown:
            raise ConfigError(f"max_difficulty given for tasks not in the mixture: "
                              f"{sorted(unknown)}")
        self.top = {t.name: max(t.min_difficulty, min(t.max_difficulty,
                                                      caps.get(t.name, t.max_difficulty)))
                    for t in self.tasks}
        if sum(self.weights) <= 0:
            raise ConfigError("at least one task weight must be > 0")
        self.styles = {t.name: t.styles[0] for t in self.tasks}
        for name, style in (self.config.styles or {}).items():
            task = next((t for t in self.tasks if t.name == name), None)
            if task is None:
                raise ConfigError(f"a style given for a task not in the mixture: {name!r}")
            self.styles[name] = task.check_style(style)
        pad = self.config.prompt_pad
        if isinstance(pad, dict) and set(pad) - {t.name for t in self.tasks}:
            raise ConfigError(f"prompt_pad given for tasks not in the mixture: "
                              f"{sorted(set(pad) - {t.name for t in self.tasks})}")
        self.pads = {t.name: pad.get(t.name, 0) if isinstance(pad, dict) else pad
                     for t in self.tasks}
        self.competence = None
        if self.config.curriculum == "competence":
            self.competence = Competence({t.name: list(range(t.min_difficulty,
                                                             self.top[t.name] + 1))
                                          for t in self.tasks})

    def draw(self, i: int) -> tuple[Task, Problem, str]:
        """The task, train problem and style of example ``i``."""
        rng = random.Random(f"mixture:{self.seed}:{i}")
        task = rng.choices(self.tasks, weights=self.weights)[0]
        if self.competence is None:
            difficulty = rng.randint(task.min_difficulty, self.top[task.name])
        else:
            levels = self.competence.levels[task.name]
            difficulty = rng.choices(levels, weights=self.competence.weights[task.name])[0]
        for _ in range(10_000):
            problem = task.generate(rng, difficulty)
            if task.split(problem) == "train":  # never train on held-out problems
                break
        else:  # pragma: no cover - a split with no train problems is a task bug
            raise InvalidInput(f"{task.name}: no train problem at difficulty {difficulty}")
        direct = DIRECT in task.styles and rng.random() < self.config.direct_fraction
        return task, problem, DIRECT if direct else self.styles[task.name]

    def __getitem__(self, i: int) -> Example:
        task, problem, style = self.draw(i)
        if self.pads[task.name]:  # its own stream: unpadded mixtures stay as they were
            rng = random.Random(f"pad:{self.seed}:{i}")
            problem = dataclasses.replace(problem, prompt=pad_question(
                problem.prompt, rng.randint(0, self.pads[task.name]), self.config.pad_at, rng))
        return task_example(task, problem, style)


def pad_question(question: str, extra: int, at: str, rng: random.Random) -> str:
    """``question`` with ``extra`` more spaces, each after a randomly chosen slot: the end
    of a sentence (a space after ``.``, ``?`` or ``;``) or the question's end for "sentences";
    any space, or the end, for "words"; any character for "chars". Only whitespace is
    added: for "sentences" and "words" every word stays as it was."""
    if at not in PAD_SLOTS:
        raise ConfigError(f"pad_at must be one of {PAD_SLOTS}, got {at!r}")
    text = question.rstrip()
    tail = question[len(text):]  # trailing whitespace stays last
    if at == "chars":
        slots = list(range(1, len(text) + 1))
    else:
        slots = [m.end() for m in re.finditer(r"[.?;] " if at == "sentences" else r" ", text)]
        slots.append(len(text))
    counts = collections.Counter(rng.choice(slots) for _ in range(extra))
    out, last = [], 0
    for slot in sorted(counts):
        out += [text[last:slot], " " * counts[slot]]
        last = slot
    out += [text[last:], tail]
    return "".join(out)


class ExampleList:
    """Endless stream over a fixed list of examples (STaR, RL, distillation data):
    epoch after epoch, each epoch a fresh permutation fixed by ``(seed, epoch)``."""

    def __init__(self, examples: Sequence[Example], seed: int = 0, shuffle: bool = True):
        if not examples:
            raise ConfigError("the example list is empty; there is nothing to train on")
        self.examples, self.seed, self.shuffle = list(examples), seed, shuffle
        self._order: tuple[int, list[int]] | None = None

    def _permutation(self, epoch: int) -> list[int]:
        if self._order is None or self._order[0] != epoch:
            order = list(range(len(self.examples)))
            if self.shuffle:
                random.Random(f"examples:{self.seed}:{epoch}").shuffle(order)
            self._order = (epoch, order)
        return self._order[1]

    def __getitem__(self, i: int) -> Example:
        epoch, j = divmod(i, len(self.examples))
        return self.examples[self._permutation(epoch)[j]]


def batch_at(stream: ExampleStream, tok: CharTokenizer, start: int, batch_size: int,
             max_len: int) -> Batch:
    """The batch of examples ``start`` .. ``start + batch_size - 1`` of ``stream``."""
    encoded = [encode_example(tok, stream[start + k]) for k in range(batch_size)]
    return collate(encoded, tok.pad_id, max_len)


class Batcher:
    """Cuts a stream into batches with little padding.

    Examples come in groups of ``group`` batches; within a group they are sorted by
    length and cut into batches, which are then taken in a shuffled order (fixed by the
    seed and the group's position). Random batches of mixed tasks are more than half
    padding; grouping by length roughly halves the compute per real token. The batch a
    step gets still depends only on its position in the stream, so resuming is exact.
    """

    def __init__(self, stream: ExampleStream, tok: CharTokenizer, batch_size: int,
                 max_len: int, group: int = 8, seed: int = 0):
        self.stream, self.tok, self.seed = stream, tok, seed
        self.batch_size, self.max_len, self.group = batch_size, max_len, max(1, group)
        self._cache: tuple[int, list[list[tuple[Encoded, Any]]]] | None = None

    def _batches(self, first: int) -> list[list[tuple[Encoded, Any]]]:
        if self._cache is None or self._cache[0] != first:
            span = self.batch_size * self.group
            examples = [self.stream[first + k] for k in range(span)]
            encoded = [(encode_example(self.tok, ex), getattr(ex, "source", None))
                       for ex in examples]
            encoded.sort(key=lambda e: len(e[0][0]))
            chunks = [encoded[i : i + self.batch_size] for i in range(0, span, self.batch_size)]
            random.Random(f"batches:{self.seed}:{first}").shuffle(chunks)
            self._cache = (first, chunks)
        return self._cache[1]

    def __call__(self, start: int) -> Batch:
        """The batch that begins at example ``start`` (a multiple of the batch size)."""
        span = self.batch_size * self.group
        first = start // span * span
        chunk = self._batches(first)[(start - first) // self.batch_size]
        return collate([e for e, _ in chunk], self.tok.pad_id, self.max_len,
                       [source for _, source in chunk])
