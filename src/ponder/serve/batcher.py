"""Micro-batching: concurrent ``LM.generate`` calls merged into one.

Strategies run in worker threads, one request each, and call ``generate`` as if they had
the model to themselves. Their calls go to one queue; a single thread takes whatever
has arrived (waiting ``window_s`` after the first call for company), merges calls whose
sampling settings agree into one ``generate`` over all their prompts, with one length
limit per prompt as the LM protocol allows, and hands each caller its rows back. The LM
is thus only ever used from one thread, and a batch grows by itself while the model is
busy, the way continuous batching does at the granularity of whole calls.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from ponder.lm.base import LM, Completion


class Cancelled(Exception):
    """The request this work belongs to was cancelled (its client went away)."""


@dataclass
class Call:
    prompts: list[str]
    n: int
    max_tokens: int | list[int]
    temperature: float
    top_p: float
    stop: list[str] | None
    seed: int | None
    cancelled: threading.Event = field(default_factory=threading.Event)
    future: Future = field(default_factory=Future)

    @property
    def key(self) -> tuple:
        """Calls merge only when every sampling setting but the length limit agrees."""
        return (self.n, self.temperature, self.top_p, tuple(self.stop or ()), self.seed)

    def limits(self) -> list[int]:
        if isinstance(self.max_tokens, list):
            return list(self.max_tokens)
        return [self.max_tokens] * len(self.prompts)


class Batcher:
    """Owns the LM: every ``generate`` goes through ``run`` from any thread."""

    def __init__(self, lm: LM, window_s: float = 0.002, max_sequences: int = 64):
        self.lm, self.window_s, self.max_sequences = lm, window_s, max_sequences
        self.calls = 0  # generate() calls made on the LM
        self.merged = 0  # calls answered by a generate() shared with another call
        self._queue: queue.Queue[Call | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="ponder-batcher", daemon=True)
        self._thread.start()

    def run(self, call: Call) -> list[list[Completion]]:
        """Blocks until the call's rows are generated (or raises what generate raised)."""
        self._queue.put(call)
        return call.future.result()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = [first], False
            deadline = time.monotonic() + self.window_s
            while True:
                left = deadline - time.monotonic()
                try:
                    nxt = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._serve(batch)
            if stop:
                return

    def _serve(self, batch: list[Call]) -> None:
        groups: dict[tuple, list[Call]] = {}
        for call in batch:
            if call.cancelled.is_set():
                call.future.set_exception(Cancelled())
            else:
                groups.setdefault(call.key, []).append(call)
        for calls in groups.values():
            part: list[Call] = []
            size = 0
            for call in calls:
                seqs = len(call.prompts) * call.n
                if part and size + seqs > self.max_sequences:
                    self._generate(part)
                    part, size = [], 0
                part.append(call)
                size += seqs
            if part:
                self._generate(part)

    def _generate(self, calls: list[Call]) -> None:
        head = calls[0]
        prompts = [p for c in calls for p in c.prompts]
        limits = [m for c in calls for m in c.limits()]
        self.calls += 1
        try:
            rows = self.lm.generate(prompts, n=head.n, max_tokens=limits,
                                    temperature=head.temperature, top_p=head.top_p,
                                    stop=head.stop, seed=head.seed)
        except Exception as e:  # handed to the waiting callers, who report it
            if len(calls) == 1:
                head.future.set_exception(e)
                return
            # One call's input may be at fault: retry alone so only that caller fails.
            for call in calls:
                self._generate([call])
            return
        if len(calls) > 1:
            self.merged += len(calls)
        i = 0
        for call in calls:
            call.future.set_result(rows[i : i + len(call.prompts)])
            i += len(call.prompts)
